;; imports: a command that imports a host function the executor does not offer.
(module
  (import "env" "host_call" (func $host_call))
  (memory (export "memory") 1)
  (func (export "_start") (call $host_call)))
