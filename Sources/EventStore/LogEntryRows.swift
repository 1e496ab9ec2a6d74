import PostgresClient

/// A batch of the log as a fold reads it (`LogEntry`'s columns), left in the result's bytes:
/// a reader that decodes each event from its bytes makes no `String` of the type or the
/// data. `entries()` makes the `LogEntry`s.
public struct LogEntryRows: Sendable, RandomAccessCollection {
    /// The columns a fold reads, in the order `Row` reads them.
    static let columns = "position, type, data, metadata, recorded_at"

    let rows: PostgresRows

    public var startIndex: Int { 0 }
    public var endIndex: Int { rows.endIndex }

    public subscript(index: Int) -> Row { Row(row: rows[index]) }

    /// The batch as `LogEntry`s.
    public func entries() throws -> [LogEntry] {
        try map { try $0.entry() }
    }

    /// One event of the batch, in the columns of `LogEntryRows.columns`.
    public struct Row {
        let row: PostgresRow

        /// The event as a `LogEntry`, its type and data made into `String`s.
        func entry() throws -> LogEntry {
            let (type, data) = try withTypeAndData {
                (String(decoding: $0, as: UTF8.self), String(decoding: $1, as: UTF8.self))
            }
            return LogEntry(
                position: try position(), type: type, data: data, metadata: try metadata(),
                recordedAt: try recordedAt())
        }

        // Read with the concrete types' initialisers: `PostgresRow.decode` is generic, and
        // outside its module it looks up the type's metadata at every call.
        public func position() throws -> Int64 {
            guard let position = row.withBytes(0, { $0.flatMap(Int64.init(postgresBytes:)) }) else {
                throw PostgresError(kind: .decoding, message: "column position is not Int64")
            }
            return position
        }

        public func recordedAt() throws -> RecordingTime { try EventStore.recordingTime(row, 4) }

        public func metadata() throws -> String {
            guard let metadata = row.withBytes(3, { $0.map { String(decoding: $0, as: UTF8.self) } }) else {
                throw PostgresError(kind: .decoding, message: "column metadata is NULL")
            }
            return metadata
        }

        /// Calls `body` with the bytes of the type's name and of the data, valid only inside it.
        public func withTypeAndData<Result>(
            _ body: (_ type: UnsafeRawBufferPointer, _ data: UnsafeRawBufferPointer) throws -> Result
        ) throws -> Result {
            try row.withBytes(1) { type in
                try row.withBytes(2) { data in
                    guard let type, let data else {
                        throw PostgresError(kind: .decoding, message: "an event's type or data is NULL")
                    }
                    return try body(type, data)
                }
            }
        }
    }
}
