import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Services

/// `GET /portal/events`: the signed-in identity's `/v1/events` stream for the portal's pages.
///
/// A browser's `EventSource` cannot send an `Authorization` header, and the portal's access token
/// never reaches JavaScript (the session cookie is HttpOnly). So the portal streams for its session:
/// the same cookie every portal page checks (HttpOnly, SameSite=Strict, `Path=/portal`), the token
/// checked as `/v1` checks it, the same `LedgerEvents` stream filtered for that identity by the same
/// `ReadRules`, in the same chunks (`LedgerEvents.serverSentEvents`), counted against the same
/// stream limits, and ending when the session's token expires. `?from=LOG.AUDIT` (the position a
/// page was rendered at) starts the stream there when no `Last-Event-ID` is sent, so nothing written
/// between the page and the stream is missed. Nothing new is issued: no ticket
/// or token in a URL, no second way in to `/v1`. docs/portal.md.
enum PortalEventRoutes {
    static func add<Context: RequestContext>(to group: RouterGroup<Context>, _ backend: PortalBackend) {
        group.get("events") { request, _ in
            guard let signedIn = await Portal.signedIn(request, backend) else {
                throw PortalRefusal(status: 401, message: "sign in to follow your events")
            }
            let identity = signedIn.identity
            let seconds = Int(signedIn.session.expiresAt - Int64(Date().timeIntervalSince1970))
            guard seconds > 0 else { throw PortalRefusal(status: 401, message: "the session has ended: sign in again") }
            // A reconnecting EventSource sends Last-Event-ID; a page starts from the position it was rendered at (`from`).
            let resume = LedgerEvents.position(HTTPField.Name("Last-Event-ID").flatMap { request.headers[$0] })
                ?? LedgerEvents.position(request.uri.queryParameters["from"].map(String.init))
            // As `/v1/events`: `seconds` and `max_events` end it sooner (scripts, tests).
            let query = request.uri.queryParameters
            var limit = (seconds: seconds, events: Int.max)
            if let text = query["seconds"] {
                guard let asked = Int(text), asked >= 1 else { throw PortalRefusal(status: 400, message: "seconds must be a positive whole number") }
                limit.seconds = min(asked, seconds)
            }
            if let text = query["max_events"] {
                guard let asked = Int(text), (1...10_000).contains(asked) else { throw PortalRefusal(status: 400, message: "max_events must be 1…10000") }
                limit.events = asked
            }
            guard backend.eventStreams.open(identity.id) else {
                throw PortalRefusal(status: 429, message: "at most \(EventStreamSlots.streamsPerIdentityMax) event streams per identity "
                                    + "and \(EventStreamSlots.streamsMax) in all are open at once")
            }
            let lines = await LedgerEvents.serverSentEvents(node: backend.node, access: backend.access, requester: identity, resume: resume,
                                                            seconds: limit.seconds, maxEvents: limit.events)
            let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-store"]
            return Response(status: .ok, headers: headers, body: ResponseBody { writer in
                defer { backend.eventStreams.close(identity.id) }
                for await line in lines { try await writer.write(ByteBuffer(string: line)) }
                try await writer.finish(nil)
            })
        }
    }
}
