package proc

import (
	"os"
	"os/exec"
	"slices"
	"testing"
)

// TestSelfAndChild reads this process and a child of it: the child's
// parent is this process, its environment holds what was given, and once
// reaped it is no longer alive.
func TestSelfAndChild(t *testing.T) {
	self, err := ReadStat(os.Getpid())
	if err != nil || self.PPID != os.Getppid() || self.State == 'Z' || self.StartTime == 0 {
		t.Fatalf("ReadStat(self) = %+v, %v", self, err)
	}
	cmd := exec.Command("sleep", "60")
	cmd.Env = append(os.Environ(), "PROC_TEST=a=b")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	st, err := ReadStat(pid)
	if err != nil || st.PPID != os.Getpid() {
		t.Fatalf("ReadStat(child) = %+v, %v", st, err)
	}
	if v, ok := Env(pid, "PROC_TEST"); !ok || v != "a=b" {
		t.Errorf("Env = %q, %v", v, ok)
	}
	ids, err := PIDs()
	if err != nil || !slices.Contains(ids, pid) || !slices.Contains(ids, os.Getpid()) {
		t.Errorf("PIDs lacks the child or this process: %v", err)
	}
	if !Alive(pid, st.StartTime) || Alive(pid, st.StartTime+1) {
		t.Error("Alive: wrong for the running child")
	}
	cmd.Process.Kill()
	cmd.Wait()
	if Alive(pid, st.StartTime) {
		t.Error("Alive: true for a reaped child")
	}
}
