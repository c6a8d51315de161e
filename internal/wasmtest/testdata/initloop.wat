;; initloop: a reactor whose _initialize never returns.
(module
  (memory (export "memory") 1)
  (func (export "_initialize") (loop $forever (br $forever)))
  (func (export "faasedge_alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "faasedge_run") (param i32 i32) (result i64) (i64.const 0)))
