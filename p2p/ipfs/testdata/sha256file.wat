;; sha256file: the WebAssembly test action that reads content-addressed
;; data. Given {"path":"/ipfs/<CID>/..."} on stdin it answers
;; {"sha256":"<hex digest of the file>","size":<bytes>}, or {"error":...}.
;; SHA-256 (FIPS 180-4) is written out here so the module stays two
;; kilobytes and compiles at once, even under -race (a Go module takes a
;; minute there).
(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $prestat_dir_name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (memory (export "memory") 2)
  ;; 0 iovec, 8 count, 12 opened fd, 16 prestat, 32 preopen name,
  ;; 128 K, 384 H, 416 W, 672 block, 1024 stdin, 5120 output,
  ;; 8192 hex digits, 8208.. messages, 65536 read buffer.
  (data (i32.const 128) "\98\2f\8a\42\91\44\37\71\cf\fb\c0\b5\a5\db\b5\e9\5b\c2\56\39\f1\11\f1\59\a4\82\3f\92\d5\5e\1c\ab\98\aa\07\d8\01\5b\83\12\be\85\31\24\c3\7d\0c\55\74\5d\be\72\fe\b1\de\80\a7\06\dc\9b\74\f1\9b\c1\c1\69\9b\e4\86\47\be\ef\c6\9d\c1\0f\cc\a1\0c\24\6f\2c\e9\2d\aa\84\74\4a\dc\a9\b0\5c\da\88\f9\76\52\51\3e\98\6d\c6\31\a8\c8\27\03\b0\c7\7f\59\bf\f3\0b\e0\c6\47\91\a7\d5\51\63\ca\06\67\29\29\14\85\0a\b7\27\38\21\1b\2e\fc\6d\2c\4d\13\0d\38\53\54\73\0a\65\bb\0a\6a\76\2e\c9\c2\81\85\2c\72\92\a1\e8\bf\a2\4b\66\1a\a8\70\8b\4b\c2\a3\51\6c\c7\19\e8\92\d1\24\06\99\d6\85\35\0e\f4\70\a0\6a\10\16\c1\a4\19\08\6c\37\1e\4c\77\48\27\b5\bc\b0\34\b3\0c\1c\39\4a\aa\d8\4e\4f\ca\9c\5b\f3\6f\2e\68\ee\82\8f\74\6f\63\a5\78\14\78\c8\84\08\02\c7\8c\fa\ff\be\90\eb\6c\50\a4\f7\a3\f9\be\f2\78\71\c6")
  (data (i32.const 384) "\67\e6\09\6a\85\ae\67\bb\72\f3\6e\3c\3a\f5\4f\a5\7f\52\0e\51\8c\68\05\9b\ab\d9\83\1f\19\cd\e0\5b")
  (data (i32.const 8192) "0123456789abcdef")
  (data (i32.const 8208) "{\"sha256\":\"")                           ;; 11
  (data (i32.const 8224) "\",\"size\":")                              ;; 9
  (data (i32.const 8240) "{\"error\":\"no such file or directory\"}\n") ;; 38
  (data (i32.const 8288) "{\"error\":\"cannot open or read\"}\n")       ;; 32
  (data (i32.const 8336) "{\"error\":\"no /ipfs mount or path\"}\n")   ;; 35
  (global $fill (mut i32) (i32.const 0))
  (global $total (mut i64) (i64.const 0))
  (global $out (mut i32) (i32.const 5120))

  (func $bswap (param $x i32) (result i32)
    (i32.or
      (i32.or (i32.shl (local.get $x) (i32.const 24))
              (i32.and (i32.shl (local.get $x) (i32.const 8)) (i32.const 0xff0000)))
      (i32.or (i32.and (i32.shr_u (local.get $x) (i32.const 8)) (i32.const 0xff00))
              (i32.shr_u (local.get $x) (i32.const 24)))))

  ;; compress runs the 64 rounds on the block at 672 into H.
  (func $compress
    (local $t i32) (local $x i32) (local $y i32)
    (local $a i32) (local $b i32) (local $c i32) (local $d i32)
    (local $e i32) (local $f i32) (local $g i32) (local $h i32) (local $t1 i32) (local $t2 i32)
    (local.set $t (i32.const 0))
    (loop $load
      (i32.store (i32.add (i32.const 416) (i32.shl (local.get $t) (i32.const 2)))
        (call $bswap (i32.load (i32.add (i32.const 672) (i32.shl (local.get $t) (i32.const 2))))))
      (local.set $t (i32.add (local.get $t) (i32.const 1)))
      (br_if $load (i32.lt_u (local.get $t) (i32.const 16))))
    (loop $expand
      (local.set $x (i32.load (i32.add (i32.const 416) (i32.shl (i32.sub (local.get $t) (i32.const 2)) (i32.const 2)))))
      (local.set $y (i32.load (i32.add (i32.const 416) (i32.shl (i32.sub (local.get $t) (i32.const 15)) (i32.const 2)))))
      (i32.store (i32.add (i32.const 416) (i32.shl (local.get $t) (i32.const 2)))
        (i32.add
          (i32.add
            (i32.xor (i32.xor (i32.rotr (local.get $x) (i32.const 17)) (i32.rotr (local.get $x) (i32.const 19)))
                     (i32.shr_u (local.get $x) (i32.const 10)))
            (i32.load (i32.add (i32.const 416) (i32.shl (i32.sub (local.get $t) (i32.const 7)) (i32.const 2)))))
          (i32.add
            (i32.xor (i32.xor (i32.rotr (local.get $y) (i32.const 7)) (i32.rotr (local.get $y) (i32.const 18)))
                     (i32.shr_u (local.get $y) (i32.const 3)))
            (i32.load (i32.add (i32.const 416) (i32.shl (i32.sub (local.get $t) (i32.const 16)) (i32.const 2)))))))
      (local.set $t (i32.add (local.get $t) (i32.const 1)))
      (br_if $expand (i32.lt_u (local.get $t) (i32.const 64))))
    (local.set $a (i32.load (i32.const 384)))
    (local.set $b (i32.load (i32.const 388)))
    (local.set $c (i32.load (i32.const 392)))
    (local.set $d (i32.load (i32.const 396)))
    (local.set $e (i32.load (i32.const 400)))
    (local.set $f (i32.load (i32.const 404)))
    (local.set $g (i32.load (i32.const 408)))
    (local.set $h (i32.load (i32.const 412)))
    (local.set $t (i32.const 0))
    (loop $round
      (local.set $t1
        (i32.add
          (i32.add
            (i32.add (local.get $h)
              (i32.xor (i32.xor (i32.rotr (local.get $e) (i32.const 6)) (i32.rotr (local.get $e) (i32.const 11)))
                       (i32.rotr (local.get $e) (i32.const 25))))
            (i32.xor (i32.and (local.get $e) (local.get $f))
                     (i32.and (i32.xor (local.get $e) (i32.const -1)) (local.get $g))))
          (i32.add
            (i32.load (i32.add (i32.const 128) (i32.shl (local.get $t) (i32.const 2))))
            (i32.load (i32.add (i32.const 416) (i32.shl (local.get $t) (i32.const 2)))))))
      (local.set $t2
        (i32.add
          (i32.xor (i32.xor (i32.rotr (local.get $a) (i32.const 2)) (i32.rotr (local.get $a) (i32.const 13)))
                   (i32.rotr (local.get $a) (i32.const 22)))
          (i32.xor (i32.xor (i32.and (local.get $a) (local.get $b)) (i32.and (local.get $a) (local.get $c)))
                   (i32.and (local.get $b) (local.get $c)))))
      (local.set $h (local.get $g))
      (local.set $g (local.get $f))
      (local.set $f (local.get $e))
      (local.set $e (i32.add (local.get $d) (local.get $t1)))
      (local.set $d (local.get $c))
      (local.set $c (local.get $b))
      (local.set $b (local.get $a))
      (local.set $a (i32.add (local.get $t1) (local.get $t2)))
      (local.set $t (i32.add (local.get $t) (i32.const 1)))
      (br_if $round (i32.lt_u (local.get $t) (i32.const 64))))
    (i32.store (i32.const 384) (i32.add (i32.load (i32.const 384)) (local.get $a)))
    (i32.store (i32.const 388) (i32.add (i32.load (i32.const 388)) (local.get $b)))
    (i32.store (i32.const 392) (i32.add (i32.load (i32.const 392)) (local.get $c)))
    (i32.store (i32.const 396) (i32.add (i32.load (i32.const 396)) (local.get $d)))
    (i32.store (i32.const 400) (i32.add (i32.load (i32.const 400)) (local.get $e)))
    (i32.store (i32.const 404) (i32.add (i32.load (i32.const 404)) (local.get $f)))
    (i32.store (i32.const 408) (i32.add (i32.load (i32.const 408)) (local.get $g)))
    (i32.store (i32.const 412) (i32.add (i32.load (i32.const 412)) (local.get $h))))

  ;; byte adds one message byte without counting it.
  (func $byte (param $v i32)
    (i32.store8 (i32.add (i32.const 672) (global.get $fill)) (local.get $v))
    (global.set $fill (i32.add (global.get $fill) (i32.const 1)))
    (if (i32.eq (global.get $fill) (i32.const 64))
      (then (call $compress) (global.set $fill (i32.const 0)))))

  (func $absorb (param $p i32) (param $n i32)
    (local $end i32)
    (global.set $total (i64.add (global.get $total) (i64.extend_i32_u (local.get $n))))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (call $byte (i32.load8_u (local.get $p)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next))))

  ;; finish pads: 0x80, zeros to 56 mod 64, the bit length big-endian.
  (func $finish
    (local $bits i64) (local $i i32)
    (local.set $bits (i64.shl (global.get $total) (i64.const 3)))
    (call $byte (i32.const 0x80))
    (block $done
      (loop $zero
        (br_if $done (i32.eq (global.get $fill) (i32.const 56)))
        (call $byte (i32.const 0))
        (br $zero)))
    (local.set $i (i32.const 56))
    (loop $len
      (call $byte (i32.wrap_i64 (i64.shr_u (local.get $bits) (i64.extend_i32_u (local.get $i)))))
      (local.set $i (i32.sub (local.get $i) (i32.const 8)))
      (br_if $len (i32.ge_s (local.get $i) (i32.const 0)))))

  (func $put (param $p i32) (param $n i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (i32.store8 (global.get $out) (i32.load8_u (local.get $p)))
        (global.set $out (i32.add (global.get $out) (i32.const 1)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next))))

  (func $emit (param $p i32) (param $n i32)
    (i32.store (i32.const 0) (local.get $p))
    (i32.store (i32.const 4) (local.get $n))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))

  ;; ipfs_fd finds the preopened directory named /ipfs, or -1.
  (func $ipfs_fd (result i32)
    (local $fd i32)
    (local.set $fd (i32.const 3))
    (loop $next
      (if (call $prestat_get (local.get $fd) (i32.const 16)) (then (return (i32.const -1))))
      (if (i32.and
            (i32.eq (i32.load (i32.const 20)) (i32.const 5))
            (i32.eqz (call $prestat_dir_name (local.get $fd) (i32.const 32) (i32.const 5))))
        (then
          (if (i32.and (i32.eq (i32.load (i32.const 32)) (i32.const 0x6670692f))
                       (i32.eq (i32.load8_u (i32.const 36)) (i32.const 0x73)))
            (then (return (local.get $fd))))))
      (local.set $fd (i32.add (local.get $fd) (i32.const 1)))
      (br $next))
    (i32.const -1))

  (func (export "_start")
    (local $n i32) (local $i i32) (local $start i32) (local $end i32) (local $dir i32)
    (local $fd i32) (local $err i32) (local $w i32) (local $size i64) (local $digits i32)
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 4096))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (local.set $n (i32.load (i32.const 8)))
    ;; The path starts after "/ipfs/" and ends at the closing quote.
    (local.set $i (i32.const 1024))
    (local.set $end (i32.add (i32.const 1024) (local.get $n)))
    (block $found
      (loop $scan
        (if (i32.gt_u (i32.add (local.get $i) (i32.const 6)) (local.get $end))
          (then (call $emit (i32.const 8336) (i32.const 35)) (return)))
        (br_if $found
          (i32.and (i32.eq (i32.load (local.get $i)) (i32.const 0x6670692f))
                   (i32.eq (i32.load16_u (i32.add (local.get $i) (i32.const 4))) (i32.const 0x2f73))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $scan)))
    (local.set $start (i32.add (local.get $i) (i32.const 6)))
    (local.set $i (local.get $start))
    (block $closed
      (loop $quote
        (br_if $closed (i32.ge_u (local.get $i) (local.get $end)))
        (br_if $closed (i32.eq (i32.load8_u (local.get $i)) (i32.const 0x22)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $quote)))
    (local.set $dir (call $ipfs_fd))
    (if (i32.lt_s (local.get $dir) (i32.const 0))
      (then (call $emit (i32.const 8336) (i32.const 35)) (return)))
    (local.set $err (call $path_open (local.get $dir) (i32.const 0) (local.get $start)
      (i32.sub (local.get $i) (local.get $start)) (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 12)))
    (if (i32.eq (local.get $err) (i32.const 44))
      (then (call $emit (i32.const 8240) (i32.const 38)) (return)))
    (if (local.get $err)
      (then (call $emit (i32.const 8288) (i32.const 32)) (return)))
    (local.set $fd (i32.load (i32.const 12)))
    (block $eof
      (loop $read
        (i32.store (i32.const 0) (i32.const 65536))
        (i32.store (i32.const 4) (i32.const 65536))
        (if (call $fd_read (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))
          (then (call $emit (i32.const 8288) (i32.const 32)) (return)))
        (local.set $n (i32.load (i32.const 8)))
        (br_if $eof (i32.eqz (local.get $n)))
        (call $absorb (i32.const 65536) (local.get $n))
        (br $read)))
    (local.set $size (global.get $total))
    (call $finish)
    (call $put (i32.const 8208) (i32.const 11))
    ;; 32 digest bytes, H word by word, high byte first, as hex.
    (local.set $i (i32.const 0))
    (loop $hex
      (local.set $w (i32.load8_u (i32.add (i32.const 384)
        (i32.add (i32.and (local.get $i) (i32.const -4)) (i32.sub (i32.const 3) (i32.and (local.get $i) (i32.const 3)))))))
      (call $put (i32.add (i32.const 8192) (i32.shr_u (local.get $w) (i32.const 4))) (i32.const 1))
      (call $put (i32.add (i32.const 8192) (i32.and (local.get $w) (i32.const 15))) (i32.const 1))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $hex (i32.lt_u (local.get $i) (i32.const 32))))
    (call $put (i32.const 8224) (i32.const 9))
    ;; The size in decimal: digits go backwards into 4096..4120, then out.
    (local.set $digits (i32.const 4120))
    (loop $dec
      (local.set $digits (i32.sub (local.get $digits) (i32.const 1)))
      (i32.store8 (local.get $digits)
        (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $size) (i64.const 10)))))
      (local.set $size (i64.div_u (local.get $size) (i64.const 10)))
      (br_if $dec (i64.ne (local.get $size) (i64.const 0))))
    (call $put (local.get $digits) (i32.sub (i32.const 4120) (local.get $digits)))
    (i32.store8 (global.get $out) (i32.const 0x7d))
    (i32.store8 (i32.add (global.get $out) (i32.const 1)) (i32.const 0x0a))
    (call $emit (i32.const 5120) (i32.add (i32.sub (global.get $out) (i32.const 5120)) (i32.const 2)))))
