;; No loop and no direct call: binary recursion of depth 60 through
;; call_indirect and a table, 2^60 calls.
(module
  (type $t (func (param i32)))
  (memory (export "memory") 1)
  (table 1 funcref)
  (elem (i32.const 0) $f)
  (func (export "distgate_abi_v1"))
  (func (export "distgate_alloc") (param i32) (result i32) (i32.const 4096))
  (func $f (type $t) (param $n i32)
    (if (local.get $n)
      (then (call_indirect (type $t) (i32.sub (local.get $n) (i32.const 1)) (i32.const 0))
            (call_indirect (type $t) (i32.sub (local.get $n) (i32.const 1)) (i32.const 0)))))
  (func (export "distgate_lookup") (param i32 i32) (result i64)
    (call_indirect (type $t) (i32.const 60) (i32.const 0)) (i64.const -1)))
