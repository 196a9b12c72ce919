package seccomp

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Classic BPF opcodes used by seccomp programs.
const (
	opLdAbsW = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
	opAndK   = unix.BPF_ALU | unix.BPF_AND | unix.BPF_K
	opJa     = unix.BPF_JMP | unix.BPF_JA
	opJeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
	opJgtK   = unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K
	opJgeK   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
	opRetK   = unix.BPF_RET | unix.BPF_K
)

// maxInstructions is the kernel's limit on a program's length (BPF_MAXINSNS).
const maxInstructions = 4096

// label names a position in a program being assembled.
type label int

// insn is an instruction whose jump targets are labels. A conditional jump
// has both jt and jf set (there is no implicit fall-through); ja uses jt.
type insn struct {
	op     uint16
	k      uint32
	jt, jf label
}

// assembler builds a BPF program from instructions and labels, resolving
// jumps and inserting unconditional trampolines where a conditional jump
// is farther than 255 instructions.
type assembler struct {
	insns  []insn
	labels []int // label -> instruction index, -1 until placed
}

const noLabel label = -1

func (a *assembler) newLabel() label {
	a.labels = append(a.labels, -1)
	return label(len(a.labels) - 1)
}

// place binds l to the next instruction.
func (a *assembler) place(l label) {
	if a.labels[l] != -1 {
		panic(fmt.Sprintf("seccomp: label %d placed twice", l))
	}
	a.labels[l] = len(a.insns)
}

func (a *assembler) emit(i insn) { a.insns = append(a.insns, i) }

func (a *assembler) loadWord(off uint32) {
	a.emit(insn{op: opLdAbsW, k: off, jt: noLabel, jf: noLabel})
}

func (a *assembler) and(k uint32) { a.emit(insn{op: opAndK, k: k, jt: noLabel, jf: noLabel}) }

func (a *assembler) ret(k uint32) { a.emit(insn{op: opRetK, k: k, jt: noLabel, jf: noLabel}) }

func (a *assembler) jump(op uint16, k uint32, jt, jf label) {
	a.emit(insn{op: op, k: k, jt: jt, jf: jf})
}

func (a *assembler) ja(l label) { a.emit(insn{op: opJa, jt: l, jf: noLabel}) }

// assemble resolves labels into offsets.
func (a *assembler) assemble() ([]unix.SockFilter, error) {
	insns := a.insns
	labels := append([]int(nil), a.labels...)
	for _, p := range labels {
		if p == -1 {
			return nil, fmt.Errorf("assembling: a label was never placed")
		}
	}
	// Insert trampolines until every conditional jump reaches its target.
	for {
		grew := false
		for i := 0; i < len(insns); i++ {
			in := insns[i]
			if in.op&0x07 != unix.BPF_JMP || in.op == opJa {
				continue
			}
			farT := labels[in.jt]-i-1 > 255
			farF := labels[in.jf]-i-1 > 255
			if !farT && !farF {
				continue
			}
			// Replace "jcc T, F" by "jcc t1, f1; t1: ja T; f1: ja F" (only
			// the far sides get a trampoline).
			var tramp []insn
			newT, newF := in.jt, in.jf
			if farT {
				newT = label(len(labels))
				labels = append(labels, i+1+len(tramp))
				tramp = append(tramp, insn{op: opJa, jt: in.jt, jf: noLabel})
			}
			if farF {
				newF = label(len(labels))
				labels = append(labels, i+1+len(tramp))
				tramp = append(tramp, insn{op: opJa, jt: in.jf, jf: noLabel})
			}
			// Shift every label past i by the inserted instructions, except
			// the trampolines' own.
			for l := range labels {
				if labels[l] > i && l < len(labels)-len(tramp) {
					labels[l] += len(tramp)
				}
			}
			insns[i].jt, insns[i].jf = newT, newF
			insns = append(insns[:i+1], append(tramp, insns[i+1:]...)...)
			grew = true
		}
		if !grew {
			break
		}
	}
	if len(insns) > maxInstructions {
		return nil, fmt.Errorf("assembling: %d instructions, more than the kernel's %d", len(insns), maxInstructions)
	}
	out := make([]unix.SockFilter, len(insns))
	for i, in := range insns {
		f := unix.SockFilter{Code: in.op, K: in.k}
		switch {
		case in.op == opJa:
			off := labels[in.jt] - i - 1
			if off < 0 {
				return nil, fmt.Errorf("assembling: backward jump at %d", i)
			}
			f.K = uint32(off)
		case in.op&0x07 == unix.BPF_JMP:
			jt, jf := labels[in.jt]-i-1, labels[in.jf]-i-1
			if jt < 0 || jf < 0 || jt > 255 || jf > 255 {
				return nil, fmt.Errorf("assembling: jump out of range at %d", i)
			}
			f.Jt, f.Jf = uint8(jt), uint8(jf)
		}
		out[i] = f
	}
	return out, nil
}
