/// Polls `condition` every 20 ms until it holds or `timeout` has passed: a wait for a state
/// the test names, never a fixed sleep standing in for it.
/// - Returns: whether the condition held in time (the caller expects it).
func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return true }
        guard ContinuousClock.now < deadline else { return false }
        try await Task.sleep(for: .milliseconds(20))
    }
}
