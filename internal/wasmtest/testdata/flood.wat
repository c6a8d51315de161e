;; flood: a command that writes 256 MiB on stderr, in lines of 1023 0xff
;; bytes and a newline (not UTF-8: JSON turns each byte into a six-byte
;; \ufffd), then {"ok":true} on stdout.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (data (i32.const 16) "{\"ok\":true}\n")
  (func (export "_start")
    (local $i i32)
    ;; 64 lines of 1 KiB at 65536
    (memory.fill (i32.const 65536) (i32.const 255) (i32.const 65536))
    (loop $nl
      (i32.store8
        (i32.add (i32.const 66559) (i32.mul (local.get $i) (i32.const 1024)))
        (i32.const 10))
      (local.tee $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $nl (i32.lt_u (i32.const 64))))
    ;; written 4096 times
    (i32.store (i32.const 0) (i32.const 65536))
    (i32.store (i32.const 4) (i32.const 65536))
    (local.set $i (i32.const 0))
    (loop $out
      (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.tee $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $out (i32.lt_u (i32.const 4096))))
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 12))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
