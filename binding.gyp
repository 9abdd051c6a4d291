{
  "targets": [
    {
      "target_name": "sockprobe",
      "sources": ["native/module.cc", "native/engine.cc", "native/backend_uv.cc", "native/address.cc", "native/inspect.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_CPP_EXCEPTIONS", "NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-fno-exceptions"],
      "cflags_cc!": ["-fno-rtti"],
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "MACOSX_DEPLOYMENT_TARGET": "11.0",
        "OTHER_CPLUSPLUSFLAGS": ["-Wall", "-Wextra", "-fno-exceptions"]
      },
      "conditions": [
        ["OS=='linux'", { "sources": ["native/backend_epoll.cc", "native/socket_posix.cc", "native/facts_posix.cc", "native/facts_linux.cc"] }],
        ["OS=='mac'", { "sources": ["native/socket_posix.cc", "native/facts_posix.cc", "native/facts_darwin.cc"] }],
        ["OS=='win'", {
          "sources": ["native/socket_win.cc", "native/facts_win.cc"],
          "defines": ["WIN32_LEAN_AND_MEAN", "NOMINMAX", "_WIN32_WINNT=0x0A00", "NTDDI_VERSION=0x0A000007"],
          "libraries": ["ws2_32.lib"]
        }],
        ["OS!='linux' and OS!='mac' and OS!='win'", {
          "sources!": ["native/module.cc", "native/engine.cc", "native/backend_uv.cc", "native/address.cc", "native/inspect.cc"],
          "sources": ["native/unsupported.cc"]
        }]
      ]
    }
  ]
}
