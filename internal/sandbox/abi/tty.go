package abi

// ioctl(2) requests for terminals and files.
const (
	TCGETS      = 0x5401
	TCSETS      = 0x5402
	TCSETSW     = 0x5403
	TCSETSF     = 0x5404
	TCGETA      = 0x5405
	TCSBRK      = 0x5409
	TCXONC      = 0x540A
	TCFLSH      = 0x540B
	TIOCEXCL    = 0x540C
	TIOCNXCL    = 0x540D
	TIOCSCTTY   = 0x540E
	TIOCGPGRP   = 0x540F
	TIOCSPGRP   = 0x5410
	TIOCOUTQ    = 0x5411
	TIOCSTI     = 0x5412
	TIOCGWINSZ  = 0x5413
	TIOCSWINSZ  = 0x5414
	TIOCMGET    = 0x5415
	TIOCINQ     = 0x541B
	FIONREAD    = 0x541B
	TIOCLINUX   = 0x541C
	TIOCCONS    = 0x541D
	FIONBIO     = 0x5421
	TIOCNOTTY   = 0x5422
	TIOCSETD    = 0x5423
	TIOCGETD    = 0x5424
	TIOCSBRK    = 0x5427
	TIOCCBRK    = 0x5428
	TIOCGSID    = 0x5429
	TIOCGPTN    = 0x80045430
	TIOCSPTLCK  = 0x40045431
	TIOCGDEV    = 0x80045432
	TIOCVHANGUP = 0x5437
	TIOCGPKT    = 0x80045438
	TIOCGPTLCK  = 0x80045439
	TIOCGEXCL   = 0x80045440
	TIOCGPTPEER = 0x5441
	FIONCLEX    = 0x5450
	FIOCLEX     = 0x5451
	FIOASYNC    = 0x5452
	TIOCPKT     = 0x5420
)

// NCCS is the number of control characters in the kernel's struct termios.
const NCCS = 19

// Termios is the kernel's struct termios (TCGETS/TCSETS).
type Termios struct {
	Iflag uint32
	Oflag uint32
	Cflag uint32
	Lflag uint32
	Line  uint8
	CC    [NCCS]uint8
}

// Winsize is struct winsize (TIOCGWINSZ).
type Winsize struct {
	Row    uint16
	Col    uint16
	Xpixel uint16
	Ypixel uint16
}

// Termios control character indices.
const (
	VINTR    = 0
	VQUIT    = 1
	VERASE   = 2
	VKILL    = 3
	VEOF     = 4
	VTIME    = 5
	VMIN     = 6
	VSWTC    = 7
	VSTART   = 8
	VSTOP    = 9
	VSUSP    = 10
	VEOL     = 11
	VREPRINT = 12
	VDISCARD = 13
	VWERASE  = 14
	VLNEXT   = 15
	VEOL2    = 16
)

// Termios input flags.
const (
	IGNBRK  = 0x1
	BRKINT  = 0x2
	IGNPAR  = 0x4
	PARMRK  = 0x8
	INPCK   = 0x10
	ISTRIP  = 0x20
	INLCR   = 0x40
	IGNCR   = 0x80
	ICRNL   = 0x100
	IUCLC   = 0x200
	IXON    = 0x400
	IXANY   = 0x800
	IXOFF   = 0x1000
	IMAXBEL = 0x2000
	IUTF8   = 0x4000
)

// Termios output flags.
const (
	OPOST  = 0x1
	OLCUC  = 0x2
	ONLCR  = 0x4
	OCRNL  = 0x8
	ONOCR  = 0x10
	ONLRET = 0x20
)

// Termios control flags.
const (
	CSIZE  = 0x30
	CS8    = 0x30
	CSTOPB = 0x40
	CREAD  = 0x80
	PARENB = 0x100
	HUPCL  = 0x400
	CLOCAL = 0x800
	B38400 = 0xf
)

// Termios local flags.
const (
	ISIG    = 0x1
	ICANON  = 0x2
	ECHO    = 0x8
	ECHOE   = 0x10
	ECHOK   = 0x20
	ECHONL  = 0x40
	NOFLSH  = 0x80
	TOSTOP  = 0x100
	ECHOCTL = 0x200
	ECHOPRT = 0x400
	ECHOKE  = 0x800
	IEXTEN  = 0x8000
)

// DefaultTermios returns the termios a new terminal starts with, as Linux
// sets it for a fresh pty (cooked mode, echo, ^C/^Z/^\ signals).
func DefaultTermios() Termios {
	return Termios{
		Iflag: ICRNL | IXON | IMAXBEL | IUTF8,
		Oflag: OPOST | ONLCR,
		Cflag: B38400 | CS8 | CREAD | HUPCL,
		Lflag: ISIG | ICANON | ECHO | ECHOE | ECHOK | ECHOCTL | ECHOKE | IEXTEN,
		CC: [NCCS]uint8{
			VINTR: 3, VQUIT: 28, VERASE: 127, VKILL: 21, VEOF: 4, VTIME: 0, VMIN: 1,
			VSTART: 17, VSTOP: 19, VSUSP: 26, VREPRINT: 18, VDISCARD: 15, VWERASE: 23, VLNEXT: 22,
		},
	}
}
