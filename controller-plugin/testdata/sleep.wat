;; sleep: a command module that sleeps 300 ms (WASI poll_oneoff on a
;; relative monotonic clock), then copies stdin to stdout, so the parameters
;; come back as the result. It keeps activations in flight long enough for a
;; test to kill the edge node that runs them.
(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  ;; 0: iovec {buf, len}; 8: bytes read; 12: bytes written; 1024: buffer;
  ;; 70000: subscription (48 bytes); 70048: event (32 bytes); 70080: nevents
  (func (export "_start")
    ;; subscription: userdata 0, tag clock, clock id monotonic (1),
    ;; timeout 300 ms in ns, precision 0, flags 0 (relative)
    (i64.store (i32.const 70000) (i64.const 0))
    (i32.store8 (i32.const 70008) (i32.const 0))
    (i32.store (i32.const 70016) (i32.const 1))
    (i64.store (i32.const 70024) (i64.const 300000000))
    (i64.store (i32.const 70032) (i64.const 0))
    (i32.store16 (i32.const 70040) (i32.const 0))
    (drop (call $poll_oneoff (i32.const 70000) (i32.const 70048) (i32.const 1) (i32.const 70080)))
    (block $done
      (loop $copy
        (i32.store (i32.const 0) (i32.const 1024))
        (i32.store (i32.const 4) (i32.const 65536))
        (br_if $done (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
        (br_if $done (i32.eqz (i32.load (i32.const 8))))
        (i32.store (i32.const 4) (i32.load (i32.const 8)))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 12)))
        (br $copy)))))
