import ArgumentParser
import Foundation
import Transparency

/// `--log-key FILE`: the log's private key (written by `grantledger audit keygen`), which
/// signs checkpoints and command receipts.
struct LogKeyOptions: ParsableArguments {
    @Option(
        name: .customLong("log-key"),
        help: ArgumentHelp(
            "The log's private key file (grantledger audit keygen).",
            discussion: "Default: the file named by GRANTLEDGER_LOG_KEY; without either, nothing is signed."))
    var logKey: String?

    /// The file to read: `--log-key`, else `GRANTLEDGER_LOG_KEY`.
    var path: String? {
        if let logKey, !logKey.isEmpty { return logKey }
        let value = ProcessInfo.processInfo.environment["GRANTLEDGER_LOG_KEY"]
        return value?.isEmpty == false ? value : nil
    }

    /// The signer, or nil when no key is configured.
    ///
    /// Refuses a key file that others may read or write: it signs the log's heads.
    func signer() throws -> NoteSigner? {
        guard let path else { return nil }
        return try Self.load(path)
    }

    /// The signer, for commands that cannot do without one: a usage error without a key.
    func requiredSigner() throws -> NoteSigner {
        guard let signer = try signer() else {
            throw ValidationError(
                "no log key: pass --log-key FILE or set GRANTLEDGER_LOG_KEY (grantledger audit keygen)")
        }
        return signer
    }

    static func load(_ path: String) throws -> NoteSigner {
        let text = try readSecretFile(path, "the log key")
        do {
            return try NoteSigner(privateKey: text)
        } catch {
            throw ValidationError("the log key \(path) is not a grantledger log key: \(error)")
        }
    }
}

/// The text of a secret file (a key), refused when others may read or write it.
/// - Parameter what: how messages name it (`the log key`).
func readSecretFile(_ path: String, _ what: String, maxBytes: Int = 4096) throws -> String {
    var status = stat()
    guard stat(path, &status) == 0 else {
        throw ValidationError("cannot read \(what) \(path): \(String(cString: strerror(errno)))")
    }
    guard status.st_mode & 0o077 == 0 else {
        throw ValidationError("\(what) \(path) may be read or written by others; chmod 600 it")
    }
    guard let data = FileManager.default.contents(atPath: path), data.count < maxBytes,
        let text = String(validating: data, as: UTF8.self)
    else { throw ValidationError("cannot read \(what) \(path)") }
    return text
}

/// Creates `path` with mode 600 and writes `text` to it, never over an existing file.
/// - Throws: exit 12 when the file exists, 1 when it cannot be created.
func createSecretFile(_ path: String, _ text: String) throws {
    let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard descriptor >= 0 else {
        let reason = errno == EEXIST ? "it exists; a key is never overwritten" : String(cString: strerror(errno))
        printError("error: cannot create \(path): \(reason)")
        throw ExitCode(errno == EEXIST ? ExitStatus.alreadyExists : 1)
    }
    let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
    try handle.write(contentsOf: Data(text.utf8))
    try handle.synchronize()
    try handle.close()
}
