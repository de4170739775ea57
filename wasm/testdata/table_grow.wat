;; A table without a maximum grown by 2^24 elements (128 MiB of the
;; gateway's heap, which the memory cap does not cover; 2^31 ended the
;; gateway with "out of memory"): the grow must fail (-1), and the guest
;; traps when it does.
(module
  (memory (export "memory") 1)
  (table 1 funcref)
  (func (export "distgate_abi_v1"))
  (func (export "distgate_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "distgate_lookup") (param i32 i32) (result i64)
    (if (i32.eq (table.grow 0 (ref.null func) (i32.const 0x1000000)) (i32.const -1))
      (then unreachable))
    (i64.const -1)))
