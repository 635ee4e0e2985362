import Foundation
import QuarryCore

/// Raw keystrokes from the terminal for the tagging screen: no echo, no line buffering, and the
/// terminal restored on exit, on `q`, and on Ctrl-C.
public final class RawTerminal {
    nonisolated(unsafe) private static var saved: termios?

    public init?() {
        guard isatty(0) != 0 && isatty(1) != 0 else { return nil }
        var original = termios()
        guard tcgetattr(0, &original) == 0 else { return nil }
        Self.saved = original
        var raw = original
        raw.c_lflag &= ~tcflag_t(ICANON | ECHO)
        raw.c_iflag &= ~tcflag_t(IXON | ICRNL)
        withUnsafeMutableBytes(of: &raw.c_cc) { cc in
            cc[Int(VMIN)] = 1
            cc[Int(VTIME)] = 0
        }
        tcsetattr(0, TCSAFLUSH, &raw)
        Interruption.setRestorer { RawTerminal.restore() }
        write("\u{1B}[?25l") // hide the cursor
    }

    deinit { Self.restore() }

    public static func restore() {
        guard var original = saved else { return }
        tcsetattr(0, TCSAFLUSH, &original)
        let show = "\u{1B}[?25h\n"
        _ = show.withCString { Foundation.write(1, $0, strlen($0)) }
    }

    /// One key: a byte, or an escape sequence's final byte mapped to a name (arrows).
    public func readKey() -> String? {
        var byte: UInt8 = 0
        guard read(0, &byte, 1) == 1 else { return nil }
        if byte == 0x1B {
            var seq = [UInt8](repeating: 0, count: 2)
            var pollfd = pollfd(fd: 0, events: Int16(POLLIN), revents: 0)
            guard poll(&pollfd, 1, 30) > 0, read(0, &seq, 2) == 2 else { return "escape" }
            switch seq[1] {
            case 0x41: return "up"
            case 0x42: return "down"
            default: return "escape"
            }
        }
        if byte == 0x0D || byte == 0x0A { return "enter" }
        if byte == 0x7F || byte == 0x08 { return "backspace" }
        return String(decoding: [byte], as: UTF8.self)
    }

    /// A line typed with echo, for span and response answers.
    public func readLine(prompt: String) -> String? {
        guard var original = Self.saved else { return nil }
        var current = termios()
        tcgetattr(0, &current)
        tcsetattr(0, TCSAFLUSH, &original)
        write("\u{1B}[?25h" + prompt)
        defer {
            tcsetattr(0, TCSAFLUSH, &current)
            write("\u{1B}[?25l")
        }
        return Swift.readLine(strippingNewline: true)
    }

    public var size: (columns: Int, rows: Int) {
        var ws = winsize()
        if ioctl(1, UInt(TIOCGWINSZ), &ws) == 0 && ws.ws_col > 0 { return (Int(ws.ws_col), Int(ws.ws_row)) }
        return (80, 24)
    }

    public func write(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}
