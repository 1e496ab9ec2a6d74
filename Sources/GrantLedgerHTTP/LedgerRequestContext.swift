import Hummingbird
import Logging

/// The request context: Hummingbird's core storage plus the authenticated caller.
public struct LedgerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by `AuthMiddleware` for every route that needs a token.
    public var identity: Identity?

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
