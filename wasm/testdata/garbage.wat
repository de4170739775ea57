;; lookup returns bytes that are not a route; authorize returns a pointer
;; out of bounds; distgate_alloc is fine.
(module
  (memory (export "memory") 1)
  (data (i32.const 16) "\ff\ff\00garbage")
  (func (export "distgate_abi_v1"))
  (func (export "distgate_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "distgate_lookup") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 10)))
  (func (export "distgate_authorize") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 0x7ff00000) (i64.const 32)) (i64.const 64))))
