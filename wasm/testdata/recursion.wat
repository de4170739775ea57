;; No loop: binary recursion of depth 60, 2^60 calls with a stack 60 deep.
;; Neither a loop check nor a stack overflow stops it: the check at
;; function entries must (issue 8, item 1).
(module
  (memory (export "memory") 1)
  (func (export "distgate_abi_v1"))
  (func (export "distgate_alloc") (param i32) (result i32) (i32.const 4096))
  (func $f (param $n i32)
    (if (local.get $n)
      (then (call $f (i32.sub (local.get $n) (i32.const 1)))
            (call $f (i32.sub (local.get $n) (i32.const 1))))))
  (func (export "distgate_lookup") (param i32 i32) (result i64)
    (call $f (i32.const 60)) (i64.const -1)))
