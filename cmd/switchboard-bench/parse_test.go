package main

import "testing"

func TestEventArgs(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		msg     string
		seq, ts int64
		ok      bool
	}{
		{`[36,1,2,{},[7,1700000000000000000,"xx"]]`, 7, 1700000000000000000, true},
		{`[36,1,2,{"topic":"app.user.5.feed"},[12,99,"xx"]]`, 12, 99, true},
		{`[36,1,2,{},[3,42]]`, 3, 42, true},
		{`[17,1,2]`, 0, 0, false},
		{`[36,1,2,{},["a",1,"x"]]`, 0, 0, false},
	} {
		seq, ts, ok := eventArgs([]byte(c.msg))
		if ok != c.ok || (ok && (seq != c.seq || ts != c.ts)) {
			t.Errorf("eventArgs(%s) = %d, %d, %v; want %d, %d, %v", c.msg, seq, ts, ok, c.seq, c.ts, c.ok)
		}
	}
}

func TestParseRouter(t *testing.T) {
	t.Parallel()
	spec, err := parseRouter("nogate=self:-max-handshakes=0:-write-delay=1ms")
	if err != nil {
		t.Fatal(err)
	}
	if spec.name != "nogate" || spec.exe != "" || spec.kind != "switchboard" || spec.maxHandshakes != -1 ||
		len(spec.extra) != 2 || spec.extra[0] != "-max-handshakes=0" || spec.extra[1] != "-write-delay=1ms" {
		t.Errorf("parseRouter: got %+v", spec)
	}
	if spec, err := parseRouter("before=/tmp/old-bench"); err != nil || spec.exe != "/tmp/old-bench" || spec.extra != nil {
		t.Errorf("parseRouter(before=...): got %+v, %v", spec, err)
	}
	for _, bad := range []string{"=x", "x=", "other"} {
		if _, err := parseRouter(bad); err == nil {
			t.Errorf("parseRouter(%q): want an error", bad)
		}
	}
}
