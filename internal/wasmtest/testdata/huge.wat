;; huge: a command that writes 2 MiB of log lines on stderr (32768 lines of
;; 63 "x" and a newline), then a 2 MiB result line on stdout:
;; {"a":"yyy...y"}.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 40)
  (data (i32.const 64) "{\"a\":\"")
  (data (i32.const 80) "\"}\n")
  (func $write (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start")
    (local $i i32)
    ;; a log line at 128
    (memory.fill (i32.const 128) (i32.const 120) (i32.const 63))
    (i32.store8 (i32.const 191) (i32.const 10))
    (loop $logs
      (call $write (i32.const 2) (i32.const 128) (i32.const 64))
      (local.tee $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $logs (i32.lt_u (i32.const 32768))))
    ;; the result line at 65536
    (memory.fill (i32.const 65536) (i32.const 121) (i32.const 2097152))
    (call $write (i32.const 1) (i32.const 64) (i32.const 6))
    (call $write (i32.const 1) (i32.const 65536) (i32.const 2097152))
    (call $write (i32.const 1) (i32.const 80) (i32.const 3))))
