;; A filter policy (ABI revision 4) that allows every message: what
;; bench-filter measures against no filter at all. The verdict is the
;; 8 bytes at 16: version 1, type 6 (Verdict), ACTION (tag 1, length 1) 1.
(module
  (memory (export "memory") 1)
  (data (i32.const 16) "\01\06\01\01\00\00\00\01")
  (func (export "distgate_abi_v1"))
  (func (export "distgate_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "distgate_filter") (param i32 i32) (result i64)
    (i64.or (i64.shl (i64.const 16) (i64.const 32)) (i64.const 8))))
