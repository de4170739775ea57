;; Host functions: lookup denies with its configuration as the reason, and
;; logs it; authorize allows when now() is after 2020.
(module
  (import "distgate" "log" (func $log (param i32 i32 i32)))
  (import "distgate" "now" (func $now (result i64)))
  (import "distgate" "config_size" (func $size (result i32)))
  (import "distgate" "config_read" (func $read (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; a route at 1024: header, KIND=0, REASON tag and length at 1032..1036, config from 1037
  (data (i32.const 1024) "\01\02\01\01\00\00\00\00\05")
  (data (i32.const 512) "\01\04\01\01\00\00\00\01")
  (data (i32.const 600) "\01\04\01\01\00\00\00\00")
  (func (export "distgate_abi_v1"))
  (func (export "distgate_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "distgate_lookup") (param i32 i32) (result i64)
    (local $n i32)
    (local.set $n (call $read (i32.const 1037) (call $size)))
    (i32.store (i32.const 1033) (local.get $n))
    (call $log (i32.const 0) (i32.const 1037) (local.get $n))
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.extend_i32_u (i32.add (i32.const 13) (local.get $n)))))
  (func (export "distgate_authorize") (param i32 i32) (result i64)
    (if (i64.gt_s (call $now) (i64.const 1577836800000000000))
      (then (return (i64.or (i64.shl (i64.const 512) (i64.const 32)) (i64.const 8)))))
    (i64.or (i64.shl (i64.const 600) (i64.const 32)) (i64.const 8))))
