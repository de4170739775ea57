;; local-only: a distgate policy written by hand in WebAssembly text, to
;; show that the ABI (abi/README.md) needs no SDK.
;;
;; Lookup: a node registered on this host routes to the registry's
;; endpoints; any other name is denied. The decision reads one field of
;; the request, FLAGS (tag 4, a u32: bit 0 local host, bit 1 registered),
;; and answers with one of two routes prepared in a data segment.
;; Authorize is not exported: the gateway asks another policy, or fails
;; closed.
(module
  (import "distgate" "log" (func $log (param i32 i32 i32)))

  ;; Page 0 holds the answers; the host's request buffer starts at page 1.
  (memory (export "memory") 2)

  ;; Route{Kind: local}: version 1, type 2 (route), KIND(1)=1.
  (data (i32.const 1024) "\01\02" "\01\01\00\00\00\01")
  ;; Route{Kind: deny, Reason: "not a local node"}: KIND(1)=0, REASON(5).
  (data (i32.const 1056) "\01\02" "\01\01\00\00\00\00" "\05\10\00\00\00" "not a local node")
  (data (i32.const 1120) "local-only: denied a lookup")

  ;; ABI version marker.
  (func (export "distgate_abi_v1"))

  ;; distgate_alloc(n): the request buffer at 65536, grown to hold n bytes.
  (func (export "distgate_alloc") (param $n i32) (result i32)
    (local $pages i32)
    (local.set $pages
      (i32.add (i32.const 1)
        (i32.shr_u (i32.add (local.get $n) (i32.const 65535)) (i32.const 16))))
    (if (i32.gt_u (local.get $pages) (memory.size))
      (then
        (if (i32.eq (memory.grow (i32.sub (local.get $pages) (memory.size))) (i32.const -1))
          (then (return (i32.const 0))))))
    (i32.const 65536))

  ;; distgate_lookup(ptr, len) -> (route ptr << 32 | route len), or -1.
  (func (export "distgate_lookup") (param $p i32) (param $n i32) (result i64)
    (local $end i32) (local $len i32) (local $flags i32)
    ;; Header: version 1, type 1 (lookup request).
    (if (i32.lt_u (local.get $n) (i32.const 2)) (then (return (i64.const -1))))
    (if (i32.ne (i32.load16_u (local.get $p)) (i32.const 0x0101)) (then (return (i64.const -1))))
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (local.set $p (i32.add (local.get $p) (i32.const 2)))
    ;; Walk the fields: tag:u8 len:u32 value.
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (if (i32.lt_u (i32.sub (local.get $end) (local.get $p)) (i32.const 5))
          (then (return (i64.const -1))))
        (local.set $len (i32.load offset=1 (local.get $p)))
        (if (i32.gt_u (local.get $len) (i32.sub (i32.sub (local.get $end) (local.get $p)) (i32.const 5)))
          (then (return (i64.const -1))))
        (if (i32.and (i32.eq (i32.load8_u (local.get $p)) (i32.const 4))
                     (i32.eq (local.get $len) (i32.const 4)))
          (then (local.set $flags (i32.load offset=5 (local.get $p)))))
        (local.set $p (i32.add (local.get $p) (i32.add (i32.const 5) (local.get $len))))
        (br $next)))
    (if (i32.eq (i32.and (local.get $flags) (i32.const 3)) (i32.const 3))
      (then (return (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 8)))))
    (call $log (i32.const -4) (i32.const 1120) (i32.const 27))
    (i64.or (i64.shl (i64.const 1056) (i64.const 32)) (i64.const 29)))
)
