import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import QuarryCore

/// One HTTP request, answered synchronously: the status and headers, and the body either in
/// memory or streamed to a sink as it arrives (a download is never held whole). Redirects are
/// not followed: the caller sees the 3xx and its `Location`, so that it decides where the
/// token may go (the Hub's own host, never a CDN's) and what a HEAD reports.
struct HTTPTransfer {
    struct Response {
        let status: Int
        /// Header names lower-cased.
        let headers: [String: String]
        /// The body, when no sink took it.
        let body: Data
        let url: URL

        func header(_ name: String) -> String? { headers[name.lowercased()] }
        var isRedirect: Bool { (300..<400).contains(status) && header("location") != nil }
    }

    /// Where a streamed 2xx body goes, chunk by chunk with the response's status; throwing stops
    /// the transfer.
    typealias Sink = (_ status: Int, _ data: Data) throws -> Void

    var timeout: TimeInterval = 30

    /// Sends `request`, its body kept in memory.
    func send(_ request: URLRequest) throws -> Response { try perform(request, sink: nil) }

    /// Sends `request`, a 2xx body streamed to `sink` (and `body` left empty); other statuses keep
    /// their (short) body for the error message. A connection that drops is an error that says
    /// so; bytes already given to the sink stay given.
    func send(_ request: URLRequest, sink: (_ status: Int, _ data: Data) throws -> Void) throws -> Response {
        // The transfer is over before send returns, so the sink never outlives this call.
        try withoutActuallyEscaping(sink) { try perform(request, sink: $0) }
    }

    private func perform(_ request: URLRequest, sink: Sink?) throws -> Response {
        let delegate = TransferDelegate(sink: sink)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        let session = URLSession(configuration: configuration, delegate: delegate, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        session.dataTask(with: request).resume()
        delegate.finished.wait()
        delegate.sink = nil
        return try delegate.result(for: request)
    }
}

/// URLSession's callbacks for one transfer, on its serial delegate queue; the caller waits on
/// `finished`. Mutable state is touched from that queue, then read once after `finished`.
private final class TransferDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    let finished = DispatchSemaphore(value: 0)
    /// Dropped once the transfer is over: the closure must not outlive `send` (it is not escaping).
    var sink: HTTPTransfer.Sink?
    private var response: HTTPURLResponse?
    private var body = Data()
    private var failure: Error?
    private var sinkFailure: Error?

    init(sink: HTTPTransfer.Sink?) { self.sink = sink }

    func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                    newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
        completionHandler(nil)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
                    completionHandler: @escaping (URLSession.ResponseDisposition) -> Void) {
        self.response = response as? HTTPURLResponse
        completionHandler(.allow)
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard sinkFailure == nil else { return }
        if let sink, let status = response?.statusCode, (200..<300).contains(status) {
            do { try sink(status, data) } catch {
                sinkFailure = error
                dataTask.cancel()
            }
        } else if body.count < 1 << 20 {
            body.append(data)
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        failure = error
        finished.signal()
    }

    func result(for request: URLRequest) throws -> HTTPTransfer.Response {
        let where_ = request.url?.absoluteString ?? "?"
        if let sinkFailure { throw sinkFailure }
        if let failure {
            let reason = (failure as NSError).localizedDescription
            throw QuarryError("\(request.httpMethod ?? "GET") \(where_): \(reason)")
        }
        guard let response, let url = response.url ?? request.url else { throw QuarryError("\(request.httpMethod ?? "GET") \(where_): no response") }
        var headers: [String: String] = [:]
        for (name, value) in response.allHeaderFields {
            if let name = name as? String, let value = value as? String { headers[name.lowercased()] = value }
        }
        return HTTPTransfer.Response(status: response.statusCode, headers: headers, body: body, url: url)
    }
}
