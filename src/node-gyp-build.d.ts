declare module 'node-gyp-build' {
  /** Loads the binary that load.path(dir) names. */
  function load(dir: string): unknown;
  namespace load {
    /** Absolute path of the binary node-gyp-build picks for dir; throws when none matches. */
    function path(dir: string): string;
  }
  export = load;
}
