import Foundation

/// What SIGINT and SIGTERM do to a quarry process: remove the temporary files being written (so
/// an interrupted run leaves nothing half-written behind, not even hidden), run the restorer a
/// command set (the terminal's mode, for `tag`), and exit with 128 + the signal's number.
///
/// The handler may only call async-signal-safe functions: the paths live in a fixed table of C
/// strings, written under a lock outside the handler and read, never freed, inside it.
public enum Interruption {
    static let slots = 256
    nonisolated(unsafe) static let paths: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?> = {
        let table = UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>.allocate(capacity: slots)
        table.initialize(repeating: nil, count: slots)
        return table
    }()
    nonisolated(unsafe) static var restorer: (@convention(c) () -> Void)?
    static let lock = NSLock()
    nonisolated(unsafe) static var installed = false

    /// Removes `path` if the process is interrupted before `forget`; returns its slot (nil when
    /// the table is full: the file is then only left behind, never wrong).
    public static func removeOnInterrupt(_ path: String) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        installIfNeeded()
        for slot in 0..<slots where paths[slot] == nil {
            paths[slot] = strdup(path)
            return slot
        }
        return nil
    }

    public static func forget(_ slot: Int?) {
        guard let slot else { return }
        lock.lock()
        defer { lock.unlock() }
        let path = paths[slot]
        paths[slot] = nil
        free(path)
    }

    /// Runs `restore` (async-signal-safe) before exiting on an interrupt.
    public static func setRestorer(_ restore: (@convention(c) () -> Void)?) {
        lock.lock()
        defer { lock.unlock() }
        installIfNeeded()
        restorer = restore
    }

    private static func installIfNeeded() {
        guard !installed else { return }
        installed = true
        // A parent may have started quarry with these signals blocked (a thread of a test runner,
        // a supervisor): then a SIGTERM would stay pending forever. Unblocked in this thread, one
        // thread at least receives them.
        var unblock = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGINT)
        sigaddset(&unblock, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
        for number in [SIGINT, SIGTERM] {
            signal(number) { received in
                for slot in 0..<Interruption.slots {
                    if let path = Interruption.paths[slot] { unlink(path) }
                }
                Interruption.restorer?()
                _exit(128 + received)
            }
        }
    }

    /// A memory-mapped file that shrinks under the process (another program truncates a shard
    /// being trained on) raises SIGBUS when the lost pages are touched: said in one line instead
    /// of dying of the signal.
    public static func reportBusErrorsAsTruncatedFiles() {
        lock.lock()
        defer { lock.unlock() }
        guard !busHandlerInstalled else { return }
        busHandlerInstalled = true
        signal(SIGBUS) { _ in
            let message = "quarry: error: a memory-mapped file shrank while it was read (a shard truncated or rewritten under the run?): rerun once it is complete\n"
            message.withCString { _ = write(2, $0, strlen($0)) }
            _exit(1)
        }
    }

    nonisolated(unsafe) static var busHandlerInstalled = false
}
