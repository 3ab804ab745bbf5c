"""The throwaway Valkey + search module of the tests; defined in `bench.search_process`."""

from bench.search_process import search_server_files, start_search_server

__all__ = ["search_server_files", "start_search_server"]
