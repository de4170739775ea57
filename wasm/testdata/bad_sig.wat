;; distgate_lookup with the wrong type.
(module
  (memory (export "memory") 1)
  (func (export "distgate_abi_v1"))
  (func (export "distgate_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "distgate_lookup") (param i32) (result i32) (i32.const 0)))
