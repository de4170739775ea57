;; Answers every lookup with a denial whose reason counts the calls of its
;; instance, "call 1", "call 2", ..., and allows the route to be reused for
;; a minute (CACHE_MS 60000): the cache tests see when they are called.
(module
  (memory (export "memory") 1)
  (data (i32.const 1024)
    "\01\02"                       ;; version 1, Route
    "\01\01\00\00\00\00"           ;; KIND deny
    "\05\06\00\00\00call 0"        ;; REASON
    "\09\04\00\00\00\60\ea\00\00") ;; CACHE_MS 60000
  (func (export "distgate_abi_v1"))
  (func (export "distgate_alloc") (param i32) (result i32) (i32.const 4096))
  (func (export "distgate_lookup") (param i32 i32) (result i64)
    (i32.store8 (i32.const 1042) (i32.add (i32.load8_u (i32.const 1042)) (i32.const 1)))
    (i64.or (i64.shl (i64.const 1024) (i64.const 32)) (i64.const 28))))
