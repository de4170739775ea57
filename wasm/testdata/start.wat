;; Has a start function, which would run before the host can bound it.
(module
  (memory (export "memory") 1)
  (func $start)
  (start $start)
  (func (export "distgate_abi_v1"))
  (func (export "distgate_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "distgate_lookup") (param i32 i32) (result i64) (i64.const -1)))
