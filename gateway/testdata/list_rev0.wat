;; An authorize policy written for ABI revision 0: it reads ACTION, the
;; first field of an AuthorizeRequest (tag 1, length 1, value at byte 7),
;; allows listing (1) and refuses everything else. It knows nothing of the
;; LOOKUP field of revision 1: lookups, which keep ACTION 1, stay allowed.
(module
  (memory (export "memory") 1)
  (func (export "distgate_abi_v1"))
  (func (export "distgate_alloc") (param i32) (result i32) (i32.const 1024))
  ;; Decisions at 64: allow (01 04 | 01 01000000 01), at 80: refuse.
  (data (i32.const 64) "\01\04\01\01\00\00\00\01")
  (data (i32.const 80) "\01\04\01\01\00\00\00\00")
  (func (export "distgate_authorize") (param $ptr i32) (param $len i32) (result i64)
    (if (result i64)
      (i32.and
        (i32.ge_u (local.get $len) (i32.const 8))
        (i32.eq (i32.load8_u offset=7 (local.get $ptr)) (i32.const 1)))
      (then (i64.or (i64.shl (i64.const 64) (i64.const 32)) (i64.const 8)))
      (else (i64.or (i64.shl (i64.const 80) (i64.const 32)) (i64.const 8))))))
