import FarmCore
import FarmStore
import Foundation
import Hummingbird
import Repository
import RepositoryServer

/// The builder hosts' side of the API: a builder holding a job uploads its result files one by
/// one (`PUT /api/v1/builder/jobs/N/files/NAME?epoch=E`), then asks the coordinator to land
/// them (`POST /api/v1/builder/jobs/N/complete?epoch=E`). Each request carries the builder's
/// token; a builder may only send files for a job it holds under that claim.
extension FarmWeb {
    func registerBuilderRoutes(on router: Router<BasicRequestContext>) {
        let web = self
        router.put("/api/v1/builder/jobs/:number/files/:name") { request, context in
            try await web.builderFile(request, number: try context.parameters.require("number", as: Int64.self), name: try context.parameters.require("name"))
        }
        router.post("/api/v1/builder/jobs/:number/complete") { request, context in
            try web.builderComplete(request, number: try context.parameters.require("number", as: Int64.self))
        }
    }

    func builderFile(_ request: Request, number: Int64, name: String) async throws -> Response {
        guard let intake else { return json(["error": "this server takes no builder results (start it with a signing key)"], status: .notFound) }
        do {
            let builder = try intake.builder(token: UploadHandler.token(authorization: request.headers[.authorization]))
            let epoch = try Self.epoch(request)
            guard let limit = intake.limit(for: name) else { throw IntakeError.invalid("'\(name)' is not a result file") }
            if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
                throw IntakeError.tooLarge("\(name): \(declared) bytes")
            }
            let staged = try intake.prepare(file: name, job: number, epoch: epoch, builder: builder)
            guard try await RepositoryServer.receive(request.body, into: staged, limit: limit) != nil else {
                unlink(staged)
                throw IntakeError.tooLarge("\(name): more than \(limit) bytes")
            }
            try intake.accept(file: name, job: number, epoch: epoch, staged: staged)
            return json(["stored": name], status: .ok)
        } catch let error as IntakeError {
            return json(["error": error.description], status: HTTPResponse.Status(code: error.status))
        }
    }

    func builderComplete(_ request: Request, number: Int64) throws -> Response {
        guard let intake else { return json(["error": "this server takes no builder results (start it with a signing key)"], status: .notFound) }
        do {
            let builder = try intake.builder(token: UploadHandler.token(authorization: request.headers[.authorization]))
            let key = request.uri.queryParameters.get("key").flatMap { $0.count == 16 && $0.allSatisfy(\.isHexDigit) ? $0 : nil }
            let job = try intake.complete(job: number, epoch: try Self.epoch(request), builder: builder, builderKey: key)
            return try encoded(DashboardQueries.summary(job, now: Date().timeIntervalSince1970), status: .ok)
        } catch let error as IntakeError {
            return json(["error": error.description], status: HTTPResponse.Status(code: error.status))
        }
    }

    static func epoch(_ request: Request) throws -> Int64 {
        guard let text = request.uri.queryParameters.get("epoch"), let epoch = Int64(text), epoch > 0 else {
            throw IntakeError.invalid("the claim's epoch is missing (?epoch=N)")
        }
        return epoch
    }
}
