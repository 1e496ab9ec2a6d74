import PostgresClient
import Testing

/// Runs `statement` (as whichever role `connection` logged in as) and expects PostgreSQL to
/// refuse it: the attacks a compromised application role tries.
func expectRefused(
    _ statement: String, on connection: PostgresConnection, sourceLocation: SourceLocation = #_sourceLocation
) async {
    do {
        try await connection.query(PostgresQuery(unsafeSQL: statement))
        Issue.record("the application role was allowed: \(statement)", sourceLocation: sourceLocation)
    } catch let error as PostgresError {
        #expect(error.kind == .server, "\(statement): \(error)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
    }
}
