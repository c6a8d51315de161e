;; grow: a command that grows its memory a page at a time until the grow is
;; refused, then traps, as a runtime out of memory does.
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $more
      (br_if $more (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    unreachable))
