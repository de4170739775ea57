;; distgate_init refuses every configuration, with a message.
(module
  (memory (export "memory") 1)
  (data (i32.const 16) "config rejected: want JSON")
  (func (export "distgate_abi_v1"))
  (func (export "distgate_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "distgate_init") (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 26)))
  (func (export "distgate_lookup") (param i32 i32) (result i64) (i64.const -1)))
