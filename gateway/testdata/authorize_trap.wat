;; An authorize policy that traps on every call (a division by zero).
(module
  (memory (export "memory") 1)
  (func (export "distgate_abi_v1"))
  (func (export "distgate_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "distgate_authorize") (param i32 i32) (result i64)
    (i64.extend_i32_u (i32.div_u (i32.const 1) (i32.const 0)))))
