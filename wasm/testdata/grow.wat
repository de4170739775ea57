;; lookup allocates without bound: it grows its memory by 1 MiB until the
;; host refuses, then aborts as an allocator does.
(module
  (memory (export "memory") 1)
  (func (export "distgate_abi_v1"))
  (func (export "distgate_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "distgate_lookup") (param i32 i32) (result i64)
    (loop $more
      (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
    unreachable))
