;; Asks for 2000 pages (125 MiB) at start, over the 64 MiB default cap.
(module
  (memory (export "memory") 2000)
  (func (export "distgate_abi_v1"))
  (func (export "distgate_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "distgate_lookup") (param i32 i32) (result i64) (i64.const -1)))
