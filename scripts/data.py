"""``qkspike data``: where the speech data is (``where``), and getting it (``fetch fsdd``)."""

from __future__ import annotations

from pathlib import Path

from .cli import UsageError
from .options import add_progress, check_at_least_one


def add_arguments(parser) -> None:
    parser.add_argument("action", choices=["fetch", "where"],
                        help="fetch: download and verify a dataset; where: the folder the "
                             "commands read when no --data is given")
    parser.add_argument("dataset", nargs="?", choices=["fsdd"], default="fsdd",
                        help="(default: %(default)s)")
    parser.add_argument("--dest", type=Path, default=None,
                        help="folder to fetch into (default: the user data folder)")
    parser.add_argument("--url", default=None,
                        help="base URL of the recordings (default: the dataset's repository "
                             "at the pinned commit; a file:// mirror works too)")
    parser.add_argument("--jobs", type=int, default=8,
                        help="parallel downloads (default: %(default)s)")
    add_progress(parser)


def run(args) -> int:
    from qkspike.fetch import FSDD_URL, FetchError, fetch_fsdd
    from qkspike.locations import DataNotFound, fsdd_location, user_data_dir

    if args.action == "where":
        try:
            print(fsdd_location().describe())
        except DataNotFound as error:
            raise UsageError(str(error)) from None
        return 0
    check_at_least_one(("--jobs", args.jobs))
    dest = args.dest or user_data_dir() / "fsdd"
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"{dest}: exists and is not a folder")
    url = args.url or FSDD_URL
    print(f"fetching FSDD (CC BY-SA 4.0) from {url} into {dest}")
    try:
        result = fetch_fsdd(dest, base_url=url, jobs=args.jobs, progress=not args.no_progress)
    except FetchError as error:
        raise UsageError(str(error)) from None
    print(f"FSDD in {result.folder}: {result.downloaded} downloaded, {result.present} already "
          f"there, all verified")
    return 0
