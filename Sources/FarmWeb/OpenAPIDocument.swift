/// The API's description, served at `/api/v1/openapi.json` (OpenAPI 3.1). Field names are
/// those `DashboardJSON` writes; a unit test checks that each documented path answers.
enum OpenAPIDocument {
    static let json = """
        {
          "openapi": "3.1.0",
          "info": {"title": "wheelfarm", "version": "1", "description": "The farm's jobs, projects, requests, toolchains and builders, and operator actions. Reads follow serve --require-token; actions need an operator token (wheelfarm token create --operator) as 'Authorization: Bearer TOKEN'. Lists are newest first; pass a page's 'next' as 'cursor' for the next page."},
          "paths": {
            "/api/v1/overview": {"get": {"summary": "Counts by state, running jobs, builders, the queue's oldest age, the last failures", "responses": {"200": {"description": "the overview", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Overview"}}}}}}},
            "/api/v1/jobs": {"get": {"summary": "Jobs, newest first", "parameters": [
                {"name": "state", "in": "query", "schema": {"type": "string"}, "description": "comma-separated states: queued, waiting, running, succeeded, skipped, failed, cancelled"},
                {"name": "project", "in": "query", "schema": {"type": "string"}},
                {"name": "target", "in": "query", "schema": {"type": "string"}},
                {"name": "request", "in": "query", "schema": {"type": "integer"}},
                {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}}],
              "responses": {"200": {"description": "a page of jobs", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobPage"}}}}, "400": {"$ref": "#/components/responses/Error"}}}},
            "/api/v1/jobs/{number}": {"get": {"summary": "One job with its events, stage timings, record and the end of its log", "parameters": [{"$ref": "#/components/parameters/Number"}],
              "responses": {"200": {"description": "the job", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobDetail"}}}}, "404": {"$ref": "#/components/responses/Error"}}}},
            "/api/v1/jobs/{number}/retry": {"post": {"summary": "Queue a failed or cancelled job again", "security": [{"operator": []}], "parameters": [{"$ref": "#/components/parameters/Number"}],
              "responses": {"200": {"description": "the job", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}}, "401": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}}},
            "/api/v1/jobs/{number}/cancel": {"post": {"summary": "Cancel a queued, waiting or running job", "security": [{"operator": []}], "parameters": [{"$ref": "#/components/parameters/Number"}],
              "responses": {"200": {"description": "the job", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}}, "401": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}}},
            "/api/v1/builds": {"post": {"summary": "Queue a pinned build for targets", "security": [{"operator": []}],
              "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["requirement", "targets"], "properties": {"requirement": {"type": "string", "example": "markupsafe==3.0.2"}, "targets": {"type": "array", "items": {"type": "string"}}}}}}},
              "responses": {"202": {"description": "queued", "content": {"application/json": {"schema": {"type": "object", "properties": {"request": {"type": "integer"}, "jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}}}}}}, "400": {"$ref": "#/components/responses/Error"}, "401": {"$ref": "#/components/responses/Error"}, "403": {"$ref": "#/components/responses/Error"}}}},
            "/api/v1/projects/{name}": {"get": {"summary": "A project's versions × targets", "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
              "responses": {"200": {"description": "the matrix", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ProjectMatrix"}}}}}}},
            "/api/v1/requests": {"get": {"summary": "Requests (build -r runs, nightlies, dashboard builds), newest first", "parameters": [{"name": "cursor", "in": "query", "schema": {"type": "string"}}, {"name": "limit", "in": "query", "schema": {"type": "integer"}}],
              "responses": {"200": {"description": "a page of requests", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RequestPage"}}}}}}},
            "/api/v1/toolchains": {"get": {"summary": "Toolchain images and runtime roots", "responses": {"200": {"description": "the images", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Toolchain"}}}}}}}},
            "/api/v1/builders": {"get": {"summary": "Farm processes with running jobs and registered builder hosts", "responses": {"200": {"description": "the builders", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Builder"}}}}}}}},
            "/api/v1/builder/jobs/{number}/files/{name}": {"put": {"summary": "A builder host sends one result file (the wheel, record.json, build.log, builder.intoto.json) of a job it holds; needs its builder token", "parameters": [{"name": "number", "in": "path", "required": true, "schema": {"type": "integer"}}, {"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}, {"name": "epoch", "in": "query", "required": true, "schema": {"type": "integer"}}],
              "responses": {"200": {"description": "stored"}, "401": {"description": "not a builder token"}, "409": {"description": "the builder does not hold the job under this claim"}, "413": {"description": "too large"}, "422": {"description": "not a result file"}}}},
            "/api/v1/builder/jobs/{number}/complete": {"post": {"summary": "Land a builder's result: checked against the claim and the record, signed with the farm's key, published", "parameters": [{"name": "number", "in": "path", "required": true, "schema": {"type": "integer"}}, {"name": "epoch", "in": "query", "required": true, "schema": {"type": "integer"}}, {"name": "key", "in": "query", "schema": {"type": "string"}}],
              "responses": {"200": {"description": "the job, landed", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}}, "401": {"description": "not a builder token"}, "409": {"description": "the claim lapsed"}, "422": {"description": "the files contradict the job or the record"}}}}
          },
          "components": {
            "securitySchemes": {"operator": {"type": "http", "scheme": "bearer"}},
            "parameters": {"Number": {"name": "number", "in": "path", "required": true, "schema": {"type": "integer"}}},
            "responses": {"Error": {"description": "refused", "content": {"application/json": {"schema": {"type": "object", "properties": {"error": {"type": "string"}}}}}}},
            "schemas": {
              "Job": {"type": "object", "required": ["number", "request", "requirement", "project", "target", "state", "attempts", "created_at"], "properties": {
                "number": {"type": "integer"}, "request": {"type": "integer"}, "requirement": {"type": "string"}, "project": {"type": "string"}, "version": {"type": "string"},
                "target": {"type": "string"}, "state": {"type": "string"}, "stage": {"type": "string"}, "reason": {"type": "string"}, "attempts": {"type": "integer"},
                "created_at": {"type": "number"}, "started_at": {"type": "number"}, "finished_at": {"type": "number"}, "elapsed_seconds": {"type": "number"},
                "wheel": {"type": "string"}, "owner": {"type": "string"}}},
              "JobPage": {"type": "object", "properties": {"items": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}, "next": {"type": "string"}}},
              "JobDetail": {"type": "object", "properties": {"job": {"$ref": "#/components/schemas/Job"},
                "events": {"type": "array", "items": {"type": "object", "properties": {"at": {"type": "number"}, "from": {"type": "string"}, "to": {"type": "string"}, "stage": {"type": "string"}, "message": {"type": "string"}}}},
                "stages": {"type": "array", "items": {"type": "object", "properties": {"stage": {"type": "string"}, "seconds": {"type": "number"}, "percent": {"type": "number"}}}},
                "grafted": {"type": "array", "items": {"$ref": "#/components/schemas/Graft"}}, "warnings": {"type": "array", "items": {"type": "string"}},
                "toolchain_digest": {"type": "string"}, "sdist": {"type": "string"}, "sdist_sha256": {"type": "string"},
                "log": {"type": "string"}, "log_truncated": {"type": "boolean"}, "log_available": {"type": "boolean"}, "log_bytes": {"type": "integer"}}},
              "Graft": {"type": "object", "properties": {"soname": {"type": "string"}, "package": {"type": "string"}, "version": {"type": "string"}}},
              "Builder": {"type": "object", "properties": {"name": {"type": "string"}, "running": {"type": "integer"}, "last_seen": {"type": "number"}}},
              "Overview": {"type": "object", "properties": {"counts": {"type": "object", "additionalProperties": {"type": "integer"}}, "total": {"type": "integer"},
                "running": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}, "builders": {"type": "array", "items": {"$ref": "#/components/schemas/Builder"}},
                "oldest_queued_seconds": {"type": "number"}, "failures": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}, "generated_at": {"type": "number"}}},
              "ProjectMatrix": {"type": "object", "properties": {"project": {"type": "string"}, "targets": {"type": "array", "items": {"type": "string"}},
                "versions": {"type": "array", "items": {"type": "object", "properties": {"version": {"type": "string"}, "cells": {"type": "array", "items": {"oneOf": [{"type": "null"}, {"type": "object", "properties": {
                  "target": {"type": "string"}, "state": {"type": "string"}, "job": {"type": "integer"}, "wheel": {"type": "string"}, "tag": {"type": "string"}, "size_bytes": {"type": "integer"},
                  "build_number": {"type": "string"}, "grafted": {"type": "array", "items": {"$ref": "#/components/schemas/Graft"}}, "signature_url": {"type": "string"}, "provenance_url": {"type": "string"},
                  "stage": {"type": "string"}, "reason": {"type": "string"}}}]}}}}}}},
              "RequestPage": {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "integer"}, "kind": {"type": "string"}, "description": {"type": "string"}, "created_at": {"type": "number"}, "counts": {"type": "object", "additionalProperties": {"type": "integer"}}, "total": {"type": "integer"}}}}, "next": {"type": "string"}}},
              "Toolchain": {"type": "object", "properties": {"name": {"type": "string"}, "runtime": {"type": "boolean"}, "digest": {"type": "string"}, "built_at": {"type": "number"}, "age_seconds": {"type": "number"}, "packages": {"type": "integer"}, "size_bytes": {"type": "integer"}, "current": {"type": "boolean"}, "builds": {"type": "integer"}}}
            }
          }
        }

        """
}
