import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Child processes for the tests, started with `posix_spawn` and reaped with `waitpid`.
///
/// Not Foundation's `Process`: on Linux its wait can miss a child's exit when the machine is
/// busy, leaving a test (and CI) hanging on a process that has long finished. Standard
/// input, output and error go through files, so no pipe can fill up and block either side.
enum Subprocess {
    struct Result {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    struct SpawnError: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs `executable` to completion.
    static func run(
        _ executable: String, _ arguments: [String], environment: [String: String], stdin: String? = nil
    ) async throws -> Result {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("gl-run-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = folder.appendingPathComponent("stdin")
        let output = folder.appendingPathComponent("stdout")
        let errors = folder.appendingPathComponent("stderr")
        try Data((stdin ?? "").utf8).write(to: input)
        let pid = try spawn(
            executable, arguments, environment: environment, stdin: input.path, stdout: output.path,
            stderr: errors.path)
        let status = await waitOffPool(pid)
        return Result(
            status: status,
            stdout: String(decoding: (try? Data(contentsOf: output)) ?? Data(), as: UTF8.self),
            stderr: String(decoding: (try? Data(contentsOf: errors)) ?? Data(), as: UTF8.self))
    }

    /// Starts `executable` and returns its process id; reap it with `wait(_:)`.
    static func spawn(
        _ executable: String, _ arguments: [String], environment: [String: String], stdin: String = "/dev/null",
        stdout: String = "/dev/null", stderr: String = "/dev/null"
    ) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderr, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard result == 0 else { throw SpawnError(description: "cannot start \(executable): error \(result)") }
        return pid
    }

    /// Waits for `pid` to end and returns its exit status (128 + signal when killed).
    /// `wait(_:)` on a thread of its own: a child may run for a long time (an import that
    /// waits for the log to be sealed), and blocking a cooperative thread meanwhile would
    /// starve the other tests' tasks, some of which hold the very transactions it waits for.
    static func waitOffPool(_ pid: pid_t) async -> Int32 {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: wait(pid)) }.start()
        }
    }

    static func wait(_ pid: pid_t) -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 {
            if errno != EINTR { return -1 }
        }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }

    /// The exit status of `pid` if it has ended (reaping it), nil while it runs.
    static func poll(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        let signal = status & 0x7f
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal
    }
}
