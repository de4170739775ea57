package wanem

import (
	"math"
	"testing"
)

// z999 is the standard normal quantile of a two-sided 99.9% interval.
const z999 = 3.2905

// binomialInterval returns the two-sided 99.9% interval [lo, hi] of a
// Binomial(n, p) count: P(X < lo) <= 0.0005 and P(X > hi) <= 0.0005,
// computed exactly from the distribution (log-space terms, summed from
// both tails).
func binomialInterval(n int, p float64) (lo, hi int) {
	const tail = 0.0005
	if p <= 0 {
		return 0, 0
	}
	if p >= 1 {
		return n, n
	}
	lgN, _ := math.Lgamma(float64(n + 1))
	pmf := func(k int) float64 {
		a, _ := math.Lgamma(float64(k + 1))
		b, _ := math.Lgamma(float64(n - k + 1))
		return math.Exp(lgN - a - b + float64(k)*math.Log(p) + float64(n-k)*math.Log1p(-p))
	}
	cum := 0.0
	for lo = 0; lo < n; lo++ {
		if cum+pmf(lo) > tail {
			break
		}
		cum += pmf(lo)
	}
	cum = 0
	for hi = n; hi > 0; hi-- {
		if cum+pmf(hi) > tail {
			break
		}
		cum += pmf(hi)
	}
	return lo, hi
}

func TestBinomialInterval(t *testing.T) {
	// Against the normal approximation, which is close for n*p this large.
	n, p := 100000, 0.05
	lo, hi := binomialInterval(n, p)
	mean, sd := float64(n)*p, math.Sqrt(float64(n)*p*(1-p))
	for _, c := range []struct {
		got  int
		want float64
	}{{lo, mean - z999*sd}, {hi, mean + z999*sd}} {
		if math.Abs(float64(c.got)-c.want) > 3 {
			t.Errorf("binomialInterval(%d, %v) = [%d, %d]; want about %.0f", n, p, lo, hi, c.want)
		}
	}
	// Small and exact: Binomial(10, 0.5) has P(X=0) = 1/1024 > 0.0005.
	if lo, hi := binomialInterval(10, 0.5); lo != 0 || hi != 10 {
		t.Errorf("binomialInterval(10, 0.5) = [%d, %d]; want [0, 10]", lo, hi)
	}
	if lo, hi := binomialInterval(100, 0.5); lo < 30 || lo > 40 || hi < 60 || hi > 70 {
		t.Errorf("binomialInterval(100, 0.5) = [%d, %d]; want about [34, 66]", lo, hi)
	}
}
