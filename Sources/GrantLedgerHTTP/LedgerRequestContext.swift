import Hummingbird
import Logging
import NIOConcurrencyHelpers

/// The request context: Hummingbird's core storage plus the authenticated caller.
public struct LedgerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `AuthMiddleware` for every route that needs a token.
    public var identity: Identity?

    /// What the access log writes once the request is answered (shared by every copy of
    /// the context, so what an inner middleware learns reaches the outer one).
    let notes = RequestNotes()

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.identity = nil
    }

    /// Bodies are read explicitly with `ServerLimits.maxBodyBytes`.
    public var maxUploadSize: Int { ServerLimits.maxBodyBytes }
}

/// Limits that keep one client from starving the others.
public enum ServerLimits {
    /// The largest request body accepted (413 above).
    public static let maxBodyBytes = 1 << 20
    /// The most items one page of a list returns.
    public static let maxPageSize = 500
}

/// Facts about a request learnt on the way in, for its access log line.
final class RequestNotes: Sendable {
    private let actorName = NIOLockedValueBox<String?>(nil)

    /// The token's name, once the token is known.
    var actor: String? {
        get { actorName.withLockedValue { $0 } }
        set { actorName.withLockedValue { $0 = newValue } }
    }
}
