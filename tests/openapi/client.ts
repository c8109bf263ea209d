// A small typed client over types generated from docs/openapi.yaml by
// openapi-typescript (api.d.ts): tsc fails when the document no longer has
// the operations, parameters or fields this code uses.
import type { paths, components } from "./api";

type SearchQuery = NonNullable<paths["/api/v1/search"]["get"]["parameters"]["query"]>;
type SearchReply = paths["/api/v1/search"]["get"]["responses"][200]["content"]["application/json"];
type Title = paths["/api/v1/content/{id}"]["get"]["responses"][200]["content"]["application/json"];
type ApiError = components["schemas"]["Error"];
type TokenReply = paths["/api/v1/auth/login"]["post"]["responses"][200]["content"]["application/json"];
type Credentials = NonNullable<paths["/api/v1/auth/login"]["post"]["requestBody"]>["content"]["application/json"];
type Progress = NonNullable<paths["/api/v1/me/progress/{content_id}"]["put"]["requestBody"]>["content"]["application/json"];

export class MediaGateway {
  constructor (private base: string, private token?: string) {}

  private async call<T> (method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.token)
      headers["Authorization"] = `Bearer ${this.token}`;
    if (body !== undefined)
      headers["Content-Type"] = "application/json";
    const answer = await fetch(this.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (!answer.ok) {
      const error = (await answer.json()) as ApiError;
      throw new Error(`${error.error.code}: ${error.error.message}`);
    }
    return (answer.status === 204 ? undefined : await answer.json()) as T;
  }

  async search (query: SearchQuery): Promise<SearchReply> {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query))
      if (value !== undefined)
        params.set(key, Array.isArray(value) ? value.join(",") : String(value));
    return this.call<SearchReply>("GET", `/api/v1/search?${params}`);
  }

  async title (id: string): Promise<Title> {
    return this.call<Title>("GET", `/api/v1/content/${encodeURIComponent(id)}`);
  }

  async login (credentials: Credentials): Promise<TokenReply> {
    const tokens = await this.call<TokenReply>("POST", "/api/v1/auth/login", credentials);
    this.token = tokens.access_token;
    return tokens;
  }

  async setProgress (contentId: string, progress: Progress): Promise<void> {
    await this.call<unknown>("PUT", `/api/v1/me/progress/${encodeURIComponent(contentId)}`, progress);
  }
}

// Uses of the generated types that must keep compiling.
export async function demo (api: MediaGateway): Promise<string[]> {
  const found = await api.search({ q: "the matrix", type: "movie", genres: ["science-fiction"], per_page: 5, facets: ["genres"] });
  const first = found.results[0];
  const title = await api.title(first.id);
  const offers: number = first.availability.length;
  const year: number | undefined = title.year;
  await api.setProgress(title.id, { position_s: 1830.5, duration_s: 8160, completed: false });
  return [title.title, String(year ?? ""), String(offers), String(found.facets?.genres?.[0]?.count ?? 0)];
}
