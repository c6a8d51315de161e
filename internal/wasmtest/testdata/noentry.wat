;; noentry: a module with neither a command's _start nor a reactor's exports.
(module (memory (export "memory") 1))
