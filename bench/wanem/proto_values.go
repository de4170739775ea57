package wanem

// The values of the control protocol's keys: parsed, and printed back as
// the same text.

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

func parseDuration(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, err
	}
	if d < 0 || d > MaxDelay {
		return 0, fmt.Errorf("outside 0..%v", MaxDelay)
	}
	return d, nil
}

// parseProb parses a fraction ("0.005") or a percentage ("0.5%") in 0..1.
// A percentage is shifted as decimal text, so that the value is the float
// nearest to what was written, and formatProb gives the same text back.
func parseProb(v string) (float64, error) {
	if pct, ok := strings.CutSuffix(v, "%"); ok {
		d, ok := shiftDecimal(pct, -2)
		if !ok {
			return 0, errors.New("want a decimal number before %")
		}
		v = d
	}
	p, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, err
	}
	if !(p >= 0 && p <= 1) {
		return 0, errors.New("outside 0..1")
	}
	return p, nil
}

// formatProb formats p as a percentage that parseProb reads back exactly.
func formatProb(p float64) string {
	d, ok := shiftDecimal(strconv.FormatFloat(p, 'f', -1, 64), 2)
	if !ok {
		return strconv.FormatFloat(p, 'g', -1, 64)
	}
	return d + "%"
}

// shiftDecimal multiplies the decimal number s (digits with at most one
// point, no sign or exponent) by 10^n as text, and returns it without
// needless zeros.
func shiftDecimal(s string, n int) (string, bool) {
	if s == "" || len(s) > 400 {
		return "", false
	}
	intPart, frac, _ := strings.Cut(s, ".")
	if intPart == "" && frac == "" {
		return "", false
	}
	for _, r := range intPart + frac {
		if r < '0' || r > '9' {
			return "", false
		}
	}
	digits := intPart + frac
	point := len(intPart) + n // position of the point in digits
	for point < 0 {
		digits = "0" + digits
		point++
	}
	for point > len(digits) {
		digits += "0"
	}
	ip, fp := strings.TrimLeft(digits[:point], "0"), strings.TrimRight(digits[point:], "0")
	if ip == "" {
		ip = "0"
	}
	if fp == "" {
		return ip, true
	}
	return ip + "." + fp, true
}

func parseGE(v string) (GilbertElliott, error) {
	if v == "off" {
		return GilbertElliott{}, nil
	}
	parts := strings.Split(v, ",")
	if len(parts) < 2 || len(parts) > 4 {
		return GilbertElliott{}, errors.New("want P,R[,BAD[,GOOD]] or off")
	}
	g := GilbertElliott{LossBad: 1}
	for i, dst := range []*float64{&g.P, &g.R, &g.LossBad, &g.LossGood}[:len(parts)] {
		p, err := parseProb(parts[i])
		if err != nil {
			return GilbertElliott{}, err
		}
		*dst = p
	}
	if !g.On() {
		return GilbertElliott{}, nil // P=0 is off, whatever the rest says
	}
	return g, nil
}

var rateUnits = []struct {
	suffix string
	shift  int // power of ten
}{{"gbit", 9}, {"mbit", 6}, {"kbit", 3}, {"bit", 0}, {"", 0}}

func parseRate(v string) (int64, error) {
	if v == "off" {
		return 0, nil
	}
	lv := strings.ToLower(v)
	for _, u := range rateUnits {
		num, ok := strings.CutSuffix(lv, u.suffix)
		if !ok {
			continue
		}
		d, ok := shiftDecimal(num, u.shift)
		if !ok {
			return 0, errors.New("want a number of bits per second, e.g. 400mbit")
		}
		if strings.Contains(d, ".") {
			return 0, errors.New("not a whole number of bits per second")
		}
		r, err := strconv.ParseInt(d, 10, 64)
		if err != nil || r > MaxRate {
			return 0, fmt.Errorf("above %d bit/s", int64(MaxRate))
		}
		return r, nil
	}
	return 0, errors.New("unreachable")
}

func formatRate(r int64) string {
	if r == 0 {
		return "off"
	}
	for _, u := range rateUnits[:3] {
		m := int64(1)
		for range u.shift {
			m *= 10
		}
		if r%m == 0 {
			return strconv.FormatInt(r/m, 10) + u.suffix
		}
	}
	return strconv.FormatInt(r, 10)
}

func parseBytes(v string) (int, error) {
	if v == "default" {
		return 0, nil
	}
	mult := 1
	for _, u := range []struct {
		suffix string
		mult   int
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"k", 1 << 10}, {"K", 1 << 10}, {"m", 1 << 20}, {"M", 1 << 20}} {
		if num, ok := strings.CutSuffix(v, u.suffix); ok {
			v, mult = num, u.mult
			break
		}
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > MaxQueue/mult {
		return 0, fmt.Errorf("want 0..%d bytes", MaxQueue)
	}
	return n * mult, nil
}
