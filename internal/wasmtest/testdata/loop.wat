;; loop: a command that never ends, for the timeout.
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $forever (br $forever))))
