// Package turso lists an organization's databases through the Turso
// Platform API (GET /v1/organizations/{slug}/databases), so a Turso fleet
// needs no catalog of its own.
package turso

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Database is one entry of the documented list-databases response.
type Database struct {
	Name     string `json:"Name"`
	ID       string `json:"DbId"`
	Hostname string `json:"Hostname"`
	Group    string `json:"group"`
	// IsSchema marks a parent schema database of the retired multi-DB
	// schemas: it holds no tenant's data.
	IsSchema bool `json:"is_schema"`
	Archived bool `json:"archived"`
}

// URL is the database's libSQL URL.
func (d Database) URL() string { return "libsql://" + d.Hostname }

// Options select what List asks for.
type Options struct {
	APIURL       string // e.g. https://api.turso.tech
	Organization string
	Token        string // Platform API token; sent only as a Bearer header
	Group        string // optional filter, done by the API
	Match        string // optional regexp on the database name
	Client       *http.Client
}

// page is the documented response. The endpoint is documented without
// pagination (one response holds every database); should it answer with
// the Platform API's pagination object, as its paginated endpoints do
// (audit logs), the remaining pages are fetched too.
type page struct {
	Databases  []Database `json:"databases"`
	Pagination *struct {
		Page       int `json:"page"`
		TotalPages int `json:"total_pages"`
	} `json:"pagination"`
	Error string `json:"error"`
}

// maxPages guards against an API that keeps answering with more pages.
const maxPages = 10000

// List returns the organization's databases sorted by name, without parent
// schema databases, filtered by Group and Match.
func List(ctx context.Context, opt Options) ([]Database, error) {
	var match *regexp.Regexp
	if opt.Match != "" {
		var err error
		if match, err = regexp.Compile(opt.Match); err != nil {
			return nil, fmt.Errorf("tenants.turso.match: %w", err)
		}
	}
	client := opt.Client
	if client == nil {
		client = &http.Client{Timeout: time.Minute}
	}
	base := strings.TrimRight(opt.APIURL, "/")
	var out []Database
	seen := map[string]bool{}
	for n := 1; n <= maxPages; n++ {
		q := url.Values{}
		if opt.Group != "" {
			q.Set("group", opt.Group)
		}
		if n > 1 {
			q.Set("page", strconv.Itoa(n))
		}
		u := base + "/v1/organizations/" + url.PathEscape(opt.Organization) + "/databases"
		if len(q) > 0 {
			u += "?" + q.Encode()
		}
		p, err := get(ctx, client, u, opt.Token)
		if err != nil {
			return nil, fmt.Errorf("Turso Platform API, organization %s: %w", opt.Organization, err)
		}
		for _, d := range p.Databases {
			if d.IsSchema || seen[d.Name] {
				continue
			}
			if d.Name == "" || d.Hostname == "" {
				return nil, fmt.Errorf("Turso Platform API, organization %s: a database without Name or Hostname in the answer; is api_url the Platform API?", opt.Organization)
			}
			if opt.Group != "" && d.Group != "" && d.Group != opt.Group {
				continue
			}
			if match != nil && !match.MatchString(d.Name) {
				continue
			}
			seen[d.Name] = true
			out = append(out, d)
		}
		if p.Pagination == nil || p.Pagination.TotalPages <= n || len(p.Databases) == 0 {
			break
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func get(ctx context.Context, client *http.Client, u, token string) (*page, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		// url.Error quotes the URL, which holds no secret: the token is
		// only in the header.
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	var p page
	jsonErr := json.Unmarshal(body, &p)
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("%s: the API token in tenants.turso.api_token_env was refused (expired or revoked? mint one with `turso auth api-tokens mint attache`)%s", resp.Status, detail(p.Error))
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%s: no such organization or group%s; check tenants.turso.organization (`turso org list`) and group", resp.Status, detail(p.Error))
	case resp.StatusCode/100 != 2:
		return nil, fmt.Errorf("%s%s", resp.Status, detail(p.Error))
	case jsonErr != nil:
		return nil, fmt.Errorf("the answer is not the documented JSON: %v", jsonErr)
	case p.Databases == nil && p.Error != "":
		return nil, errors.New(p.Error)
	}
	return &p, nil
}

func detail(msg string) string {
	if msg == "" {
		return ""
	}
	return " (" + msg + ")"
}
