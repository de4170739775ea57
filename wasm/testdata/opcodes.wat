;; Exercises instructions with every kind of immediate, for the
;; instrumentation test: compute must return the same before and after.
(module
  (type $binop (func (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (table 2 funcref)
  (elem (i32.const 0) $add $sub)
  (global $g (mut i64) (i64.const 7))
  (data $d "\01\02\03\04\05\06\07\08")
  (func $add (type $binop) (i32.add (local.get 0) (local.get 1)))
  (func $sub (type $binop) (i32.sub (local.get 0) (local.get 1)))
  (func (export "compute") (result i64)
    (local $i i32) (local $acc i64) (local $v v128) (local $f f64)
    ;; bulk memory
    (memory.init $d (i32.const 100) (i32.const 0) (i32.const 8))
    (memory.copy (i32.const 200) (i32.const 100) (i32.const 8))
    (memory.fill (i32.const 300) (i32.const 9) (i32.const 4))
    ;; loads and stores with offsets and alignments
    (i64.store offset=8 align=4 (i32.const 400) (i64.load offset=100 (i32.const 100)))
    (local.set $acc (i64.load offset=8 (i32.const 400)))
    ;; a loop with br_if, br_table, call_indirect, select
    (block $out
      (loop $top
        (local.set $acc
          (i64.add (local.get $acc)
            (i64.extend_i32_s
              (call_indirect (type $binop) (local.get $i) (i32.const 3) (i32.and (local.get $i) (i32.const 1))))))
        (block $b0 (block $b1
          (br_table $b0 $b1 $b0 (i32.and (local.get $i) (i32.const 1))))
          (local.set $acc (i64.add (local.get $acc) (i64.const 1000))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $top (i32.lt_u (local.get $i) (i32.const 10)))))
    ;; typed select, floats, saturating conversion, sign extension
    (local.set $f (f64.mul (f64.const 2.5) (f64.convert_i64_s (local.get $acc))))
    (local.set $acc (i64.add (local.get $acc) (i64.trunc_sat_f64_s (local.get $f))))
    (local.set $acc (select (result i64) (local.get $acc) (i64.const 0) (i32.const 1)))
    (local.set $acc (i64.add (local.get $acc) (i64.extend8_s (i64.const 0xff))))
    ;; SIMD: const, shuffle, lanes, load lane
    (local.set $v (v128.const i32x4 1 2 3 4))
    (local.set $v (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11 (local.get $v) (local.get $v)))
    (local.set $v (v128.load32_lane 1 (i32.const 100) (local.get $v)))
    (local.set $acc (i64.add (local.get $acc) (i64.extend_i32_u (i32x4.extract_lane 1 (local.get $v)))))
    ;; globals, memory.size
    (global.set $g (i64.add (global.get $g) (local.get $acc)))
    (i64.add (global.get $g) (i64.extend_i32_u (memory.size))))
)
