;; A hostile filter policy: distgate_filter never returns. The engine's
;; deadline must cut every call off, and the gateway carry on.
(module
  (memory (export "memory") 1)
  (func (export "distgate_abi_v1"))
  (func (export "distgate_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "distgate_filter") (param i32 i32) (result i64)
    (loop $forever (br $forever))
    (i64.const -1)))
