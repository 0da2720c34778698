package io.numaguest.agent.nativeaccess;

/** Whether mbind() moves pages already allocated in the range (MPOL_MF_MOVE / MPOL_MF_MOVE_ALL). */
public enum PageMove {
    NONE(0),
    /** Moves pages mapped only by the caller. */
    MOVE(2),
    /** Moves pages other processes map too; needs CAP_SYS_NICE. */
    MOVE_ALL(4);

    final int flag;

    PageMove(int flag) {
        this.flag = flag;
    }
}
