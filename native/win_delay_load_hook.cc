// mingw-w64 builds only (scripts/cross-build.sh): the addon's N-API and libuv
// imports come from a delay-load import library naming "node.exe"; this hook
// resolves that name to the host process's own image, whatever the
// executable is called (node.exe renamed, or an embedding). node-gyp adds the
// same hook (win_delay_load_hook.cc) to MSVC builds by itself.
#if defined(_WIN32) && defined(__MINGW32__)

#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <delayimp.h>
#include <string.h>

static FARPROC WINAPI SockprobeLoadHook(unsigned int event, DelayLoadInfo* info) {
  if (event != dliNotePreLoadLibrary) return nullptr;
  if (_stricmp(info->szDll, "node.exe") != 0) return nullptr;
  return reinterpret_cast<FARPROC>(GetModuleHandleA(nullptr));
}

// Non-const: mingw's <delayimp.h> declares it so.
extern "C" {
PfnDliHook __pfnDliNotifyHook2 = SockprobeLoadHook;
}

#endif
